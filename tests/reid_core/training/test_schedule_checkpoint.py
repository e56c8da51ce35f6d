import os

import pytest
import torch
from reid_core.errors import CheckpointError
from reid_core.training.checkpoint import (
    CheckpointManager,
    rng_state,
    save_atomic,
    set_rng_state,
)
from reid_core.training.schedule import build_scheduler, lr_factor


def test_warmup_then_steps():
    kw = {"sched": "multistep", "warmup_iters": 10, "warmup_factor": 0.1, "steps": (2, 4), "gamma": 0.1}
    assert lr_factor(0, 5, **kw) == pytest.approx(0.1)
    assert lr_factor(5, 5, **kw) == pytest.approx(0.1 * 0.5 + 0.5)
    assert lr_factor(10, 5, **kw) == pytest.approx(0.1)  # epoch 2: first step already applied
    assert lr_factor(9, 5, **kw) == pytest.approx(0.1 * 0.1 + 0.9)
    assert lr_factor(20, 5, **kw) == pytest.approx(0.01)


def test_delayed_cosine():
    kw = {"sched": "cosine", "max_epochs": 10, "delay_epochs": 4}
    assert lr_factor(3 * 10, 10, **kw) == 1.0
    assert lr_factor(7 * 10, 10, **kw) == pytest.approx(0.5)
    assert lr_factor(10 * 10, 10, **kw) == pytest.approx(0.0, abs=1e-12)


def test_scheduler_drives_optimizer():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_scheduler(opt, 2, sched="multistep", steps=(1,), gamma=0.5)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5]


def test_rng_roundtrip_through_weights_only(tmp_path):
    import random

    import numpy as np

    state = rng_state()
    save_atomic({"rng": state}, tmp_path / "r.pth")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    loaded = torch.load(tmp_path / "r.pth", weights_only=True)["rng"]
    set_rng_state(loaded)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_crash_between_write_and_rename_keeps_previous(tmp_path, monkeypatch):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    mgr.save({"step": torch.tensor(1)})

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        mgr.save({"step": torch.tensor(2)})
    monkeypatch.undo()
    assert mgr.load()["step"].item() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]


def test_keep_last_and_best(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    for epoch in range(1, 5):
        mgr.save({"epoch": epoch}, epoch=epoch, is_best=epoch == 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pth", "epoch_0003.pth", "epoch_0004.pth", "last.pth"]
    assert mgr.load(tmp_path / "best.pth")["epoch"] == 2
    with pytest.raises(CheckpointError, match="no checkpoint"):
        CheckpointManager(tmp_path / "none").load()
