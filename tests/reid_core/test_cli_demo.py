"""``reid demo`` end to end, cut to one epoch: the README's first command in small."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from reid_core.cli import main
from reid_core.cli.demo import MODEL
from reid_core.training.checkpoint import CheckpointManager

ROW = re.compile(r"^(?P<label>.+?)\s+" + r"\s+".join([r"(\d+\.\d)%"] * 4) + r"$")


def test_demo_trains_scores_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    threads = torch.get_num_threads()
    assert main(["demo", "--epochs", "1", "--processes", "2", "--output", str(out)]) == 0
    assert torch.get_num_threads() == threads  # the demo's one-thread setting does not leak

    printed = capsys.readouterr().out
    rows = {m["label"]: [float(x) for x in m.groups()[1:]] for m in map(ROW.match, printed.splitlines()) if m}
    assert list(rows) == ["colour histogram", f"{MODEL}, random init", f"{MODEL}, trained"]
    assert all(0.0 <= v <= 100.0 for values in rows.values() for v in values)

    state = CheckpointManager(out / "train" / "checkpoints").load()
    assert state["epoch"] == 1 and state["iteration"] > 0
    # only rank 0 logs: one line per logged step, no duplicates from the other process
    steps = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    iterations = [s["iteration"] for s in steps if "iteration" in s]
    assert iterations and len(iterations) == len(set(iterations))
    if importlib.util.find_spec("matplotlib"):
        assert sorted(p.name for p in (out / "ranklists").iterdir()) == ["ranklist_000.png", "ranklist_001.png"]


def test_demo_is_a_fixed_amount_of_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table must not depend on the machine: no clock in the stopping rule, and as many
    processes (hence the same split of every batch) whatever the number of cores."""
    import os

    from reid_core.cli import build_parser
    from reid_core.cli.demo import CPU_PROCESSES, DEFAULT_EPOCHS, _default_processes, demo_options
    from reid_core.train import build_config

    args = build_parser().parse_args(["demo"])
    cfg = build_config(MODEL, "synthetic", None, opts=demo_options(args))
    assert cfg.SOLVER.MAX_SECONDS == 0 and not cfg.SOLVER.SCHED_BY_TIME and cfg.SOLVER.MAX_ITERS == 0
    assert cfg.SOLVER.MAX_EPOCHS == DEFAULT_EPOCHS
    counts = set()
    for cores in (1, 2, 64):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda n=cores: n)
        counts.add(_default_processes("cpu"))
    assert counts == {CPU_PROCESSES}
    # a limit is still there for whoever asks for it
    limited = build_config(MODEL, "synthetic", None, opts=demo_options(build_parser().parse_args(["demo", "--time-limit", "60"])))
    assert limited.SOLVER.MAX_SECONDS == 60
