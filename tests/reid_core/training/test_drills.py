"""Fault drills on real training processes: stop signals to the process group, two runs in one
folder, leftovers of killed saves, and ``--resume`` followed by overrides."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reid_core.cli import main as cli_main
from reid_core.training.checkpoint import CheckpointManager
from reid_core.training.guard import OutputInUseError
from reid_core.training.trainer import Trainer

from .conftest import NUM_IDS, short_run

MODEL = "osnet_x0_25_dpr"
pytest.importorskip("reid_torchreid")

#: a run that never ends by itself: many small batches per epoch, loader workers, every step logged
ENDLESS = ["DATASET.KWARGS.num_ids", str(NUM_IDS), "INPUT.SIZE", "(32, 16)", "DATALOADER.SAMPLER", "random",
           "DATALOADER.P", "2", "DATALOADER.K", "2", "DATALOADER.NUM_WORKERS", "2", "SOLVER.WARMUP_ITERS", "0",
           "SOLVER.WARMUP_EPOCHS", "0", "SOLVER.FREEZE_EPOCHS", "0", "SOLVER.MAX_EPOCHS", "1000",
           "TEST.EVAL_PERIOD", "0", "MODEL.DEVICE", "cpu", "MODEL.PRETRAINED", "none", "LOG_PERIOD", "1"]


def start_training(root: Path, output: Path) -> subprocess.Popen:
    """``python -m reid_core.train`` in a process group of its own, as a batch system starts a job."""
    cmd = [sys.executable, "-m", "reid_core.train", MODEL, "--dataset", "synthetic", "--root", str(root),
           "--output", str(output), *ENDLESS]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def logged_steps(output: Path) -> list[int]:
    path = output / "log.jsonl"
    if not path.is_file():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["iteration"] for r in lines if "loss" in r]


def wait_for_steps(proc: subprocess.Popen, output: Path, n: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(logged_steps(output)) < n:
        if proc.poll() is not None:
            pytest.fail(f"training ended early (rc {proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("training made no progress")
        time.sleep(0.2)


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    os.killpg(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_to_the_process_group_saves_and_exits_0(tiny_root, tmp_path, sig):
    out = tmp_path / "run"
    proc = start_training(tiny_root, out)
    wait_for_steps(proc, out, 3)
    # the loader workers are alive and in the group: the signal reaches them too
    workers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) >= 2
    rc, err = stop_group(proc, sig)
    assert rc == 0, err
    assert "Traceback" not in err and "DataLoader worker" not in err
    assert f"stopped by signal {int(sig)}" in err
    state = CheckpointManager(out / "checkpoints").load()
    assert state["iteration"] == max(logged_steps(out))  # no step that was learnt is lost


@pytest.mark.slow
def test_a_second_training_in_the_same_folder_is_refused(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    proc = start_training(tiny_root, out)
    try:
        wait_for_steps(proc, out, 1)
        before = (out / "log.jsonl").read_text()
        code = cli_main(["train", MODEL, "--dataset", "synthetic", "--root", str(tiny_root),
                                   "--output", str(out), *ENDLESS[:-2], "SOLVER.MAX_ITERS", "1"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"in use by another training (pid {proc.pid})" in err and len(err.strip().splitlines()) == 1
        assert (out / "log.jsonl").read_text().startswith(before)
        assert len(logged_steps(out)) == len(set(logged_steps(out)))  # one run's steps only
    finally:
        rc, err = stop_group(proc)
    assert rc == 0, err
    # once the first has stopped, the folder is free again
    trainer = Trainer(short_run(MODEL, tiny_root, out, "SOLVER.MAX_ITERS", "1"), resume=True, progress=False)
    trainer.run()


def test_the_lock_names_the_holder_in_process(tiny_root, tmp_path):
    from reid_core.training.guard import OutputLock

    with OutputLock(tmp_path), pytest.raises(OutputInUseError, match=f"pid {os.getpid()}"):
        Trainer(short_run(MODEL, tiny_root, tmp_path, "SOLVER.MAX_ITERS", "1"), progress=False).run()


def test_temporaries_of_killed_saves_are_removed(tiny_root, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    stale = [folder / "last.pth.k2j4_x9.tmp", folder / "epoch_0003.pth.a8b7c6.tmp", folder / "best.pth.zz.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    mine = folder / "notes.tmp"  # not a name a save gives: left alone
    mine.write_text("keep")
    Trainer(short_run(MODEL, tiny_root, tmp_path, "SOLVER.MAX_ITERS", "1"), progress=False).run()
    assert not any(p.exists() for p in stale)
    assert mine.read_text() == "keep"
    assert sorted(p.name for p in folder.glob("*.tmp")) == ["notes.tmp"]


@pytest.mark.parametrize("argv, resume", [
    (["--resume", "SOLVER.MAX_ITERS", "2"], True),
    (["SOLVER.MAX_ITERS", "2", "--resume"], True),
    (["--resume", "some/last.pth", "SOLVER.MAX_ITERS", "2"], "some/last.pth"),
    (["--resume=SOLVER.MAX_ITERS", "SOLVER.MAX_EPOCHS", "2"], "SOLVER.MAX_ITERS"),
])
def test_resume_followed_by_overrides(monkeypatch, argv, resume):
    import reid_core.train as train_module

    seen = {}
    monkeypatch.setattr(train_module, "train", lambda cfg, resume=None, progress=True: seen.update(cfg=cfg, resume=resume) or {})
    assert cli_main(["train", MODEL, *argv]) == 0
    assert seen["resume"] == resume
    key = "MAX_EPOCHS" if argv[0].startswith("--resume=") else "MAX_ITERS"
    assert seen["cfg"].SOLVER[key] == 2
