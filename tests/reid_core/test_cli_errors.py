"""Every mistake on the ``reid`` command line ends in one line naming the argument and exit code 2.

Each case runs the real command in a subprocess, as a user would, and checks that stderr holds
one line, no traceback, and the argument's name. Most fail while the command line is parsed,
before torch is even imported, so they are quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .data.small import NUM_IDS, small_synthetic_home

MODEL = "osnet_x0_25_dpr"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the subprocesses: REID_HOME holds the small synthetic dataset."""
    return dict(os.environ, REID_HOME=str(small_synthetic_home(tmp_path_factory)), PYTHONWARNINGS="default")


def reid(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reid_core", *args], env=env, capture_output=True, text=True,
                          timeout=300, input=stdin)


def error_lines(stderr: str) -> list[str]:
    # a family whose package is registered in this environment but fails to import is reported
    # by the registry on its own lines: not the command's message, so not counted here
    return [line for line in stderr.splitlines() if line.strip() and "failed to load and is skipped" not in line]


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


DATA = ["--dataset", "synthetic", "--dataset-option", f"num_ids={NUM_IDS}"]

PARSE_ERRORS = [
    (["eval", MODEL, "--batch-size", "0"], ["argument --batch-size", "positive integer, got 0"]),
    (["eval", MODEL, "--batch-size", "-4"], ["argument --batch-size", "got -4"]),
    (["extract", MODEL, "--images", ".", "--out", "x.npz", "--batch-size", "x"], ["argument --batch-size", "integer"]),
    (["eval", MODEL, "--num-workers", "-1"], ["argument --num-workers", "0 or more"]),
    (["eval", MODEL, "--device", "gpu"], ["argument --device", "'gpu'"]),
    (["rank", MODEL, "--out", "o", "--device", "cuda:x"], ["argument --device"]),
    (["extract", MODEL, "--images", ".", "--out", "x.npz", "--camera-pattern", "c(\\d+"],
     ["argument --camera-pattern", "regular expression"]),
    (["rank", MODEL, "--out", "o", "--topk", "0"], ["argument --topk"]),
    (["rank", MODEL, "--out", "o", "--queries", "-3"], ["argument --queries", "-3"]),
    (["rank", MODEL, "--out", "o", "--per-image", "0"], ["argument --per-image"]),
    (["gradcam", MODEL, "--out", "o", "--topk", "-1"], ["argument --topk"]),
    (["tsne", MODEL, "--out", "o.png", "--perplexity", "0"], ["argument --perplexity"]),
    (["tsne", MODEL, "--out", "o.png", "--ids", "-2"], ["argument --ids"]),
    (["eval", MODEL, "--input-size", "256"], ["argument --input-size", "HxW"]),
    (["eval", MODEL, "--input-size", "0x128"], ["argument --input-size"]),
    (["export", MODEL, "--out", "m.onnx", "--opset", "0"], ["argument --opset"]),
    (["eval", MODEL, "--weights", "w.pth", "--random-init"], ["argument --random-init", "--weights"]),
    (["rank", MODEL], ["--out"]),
    (["nope"], ["invalid choice", "'nope'"]),
]


@pytest.mark.parametrize(("args", "needles"), PARSE_ERRORS, ids=[f"{i}-{a[0]}" for i, (a, _) in enumerate(PARSE_ERRORS)])
def test_bad_values_are_refused_while_parsing(env, args, needles):
    assert_one_line_error(reid(env, *args), *needles)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu(env):
    line = assert_one_line_error(reid(env, "eval", MODEL, "--device", "cuda", "--random-init"), "argument --device")
    assert "no CUDA device" in line and "--device cpu" in line


def test_unknown_dataset_option_before_any_work(env, tmp_path):
    args = ["eval", MODEL, "--random-init", "--root", str(tmp_path / "empty"), "--dataset", "synthetic"]
    line = assert_one_line_error(reid(env, *args, "--dataset-option", "num_idz=3"), "argument --dataset-option", "num_idz")
    assert "num_ids" in line  # the options it does take
    assert not (tmp_path / "empty").exists()  # nothing was generated


def in_process_error(capsys, *args: str) -> str:
    """The same checks in this process (torch is already imported here: quicker)."""
    from reid_core.cli import main

    capsys.readouterr()
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_malformed_dataset_options(capsys, tmp_path):
    base = ["eval", MODEL, "--random-init", "--root", str(tmp_path)]
    assert "expected KEY=VALUE" in in_process_error(capsys, *base, "--dataset-option", "num_ids")
    line = in_process_error(capsys, *base, "--dataset", "folder", "--dataset-option", "camera_pattern=c((")
    assert "argument --dataset-option: camera_pattern" in line and "regular expression" in line
    line = in_process_error(capsys, *base, "--dataset", "market1501", "--dataset-option", "num_ids=3")
    assert "market1501 reader has no option 'num_ids'" in line


def test_the_old_dataset_arg_name_still_works_with_a_note(capsys, tmp_path):
    from reid_core.cli import main

    capsys.readouterr()
    assert main(["eval", MODEL, "--random-init", "--root", str(tmp_path), "--dataset-arg", "num_idz=3"]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert lines[0] == "reid eval: warning: --dataset-arg is deprecated; use --dataset-option", lines
    assert lines[1].startswith("reid eval: error: argument --dataset-option") and len(lines) == 2, lines


def test_unknown_model_before_any_work(env, tmp_path):
    line = assert_one_line_error(reid(env, "rank", "osnet_x0_25_dprr", "--random-init", "--root", str(tmp_path),
                                      "--out", str(tmp_path / "o")), "osnet_x0_25_dprr")
    assert MODEL in line  # the close match
    assert not (tmp_path / "synthetic").exists()


def test_gradcam_layer_that_does_not_exist(env, tmp_path):
    proc = reid(env, "gradcam", MODEL, "--random-init", *DATA, "--layer", "no.such.layer", "--out", str(tmp_path / "g"),
                "--num-workers", "0")
    line = assert_one_line_error(proc, "argument --layer", "'no.such.layer'", "top-level modules")
    assert "conv1" in line
    assert not (tmp_path / "g").exists()


def test_list_unknown_family(env):
    line = assert_one_line_error(reid(env, "list", "--family", "nope"), "argument --family", "'nope'")
    assert "torchreid" in line


def test_list_into_a_closed_pipe(env):
    proc = subprocess.run(f"{sys.executable} -m reid_core list | head -n 1", shell=True, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    assert error_lines(proc.stderr) == [], proc.stderr


def test_corrupt_jpeg_under_loader_workers(env, tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 64), (40 * i, 80, 120)).save(folder / f"good_{i}.jpg")
    bad = folder / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    proc = reid(env, "extract", MODEL, "--random-init", "--images", str(folder), "--out", str(tmp_path / "f.npz"),
                "--num-workers", "2", "--batch-size", "2", "--input-size", "64x32")
    line = assert_one_line_error(proc, str(bad))
    assert line.startswith("reid extract: error: ")
    assert "worker" not in line


def test_help_imports_no_torch(env):
    code = "import sys; from reid_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n" \
           "print('torch' in sys.modules, file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "False"
    for command in ("eval", "rank", "list", "info", "export"):
        assert f"    {command}" in proc.stdout


def test_every_command_has_the_same_help_in_the_short_list():
    """The lazily listed commands say what their own parsers say."""
    from reid_core.cli import COMMANDS, build_parser

    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert helps == {name: text for name, (_, text) in COMMANDS.items()}


def test_shared_options_have_one_name_and_default_everywhere():
    from reid_core.cli import build_parser

    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    seen: dict[str, set] = {}
    for name in ("eval", "extract", "rank", "gradcam", "tsne"):
        parser = sub.choices[name]
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--num-workers", "--batch-size", "--device", "--progress", "--no-progress", "--input-size", "--flip",
                "--dataset-option" if name != "extract" else "--images"} <= options, name
        for a in parser._actions:
            if a.dest in ("num_workers", "batch_size", "progress", "input_size", "flip", "device"):
                seen.setdefault(a.dest, set()).add(repr(a.default))
    assert all(len(v) == 1 for v in seen.values()), seen
