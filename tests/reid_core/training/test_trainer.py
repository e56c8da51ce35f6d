"""The training loop on a tiny synthetic dataset: learning, exact resume, checkpoints, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import reid_core
import torch
from reid_core.training.checkpoint import CheckpointManager, export_weights
from reid_core.training.trainer import Trainer

from .conftest import NUM_IDS, short_run

MODEL = "osnet_x0_25_dpr"
pytest.importorskip("reid_torchreid")


def fixed_batch_loss(trainer: Trainer, batch: dict) -> float:
    """The objective on one batch in training mode, without changing the weights."""
    trainer.net.train()
    state = {k: v.clone() for k, v in trainer.net.state_dict().items()}  # BN statistics move in train mode
    with torch.no_grad():
        loss, _ = trainer.objective(trainer.net(batch["image"]), batch["pid"])
    trainer.net.load_state_dict(state)
    return float(loss)


def test_one_epoch_lowers_the_loss(tiny_root, tmp_path):
    torch.manual_seed(0)
    cfg = short_run(MODEL, tiny_root, tmp_path, "SOLVER.MAX_EPOCHS", "1", "SOLVER.BASE_LR", "0.003", "DATALOADER.K", "4",
                    "SOLVER.SCHED", "cosine", "INPUT.REA_PROB", "0.0", "TEST.EVAL_PERIOD", "1")
    trainer = Trainer(cfg, progress=False)
    batches = list(trainer.loader)[:3]
    before = [fixed_batch_loss(trainer, b) for b in batches]
    metrics = trainer.run()
    after = [fixed_batch_loss(trainer, b) for b in batches]
    assert trainer.epoch == 1 and trainer.iteration == len(trainer.loader)
    assert sum(after) < sum(before)
    # the epoch ended with an evaluation on the test split, logged and checkpointed
    assert 0.0 <= metrics["mAP"] <= 1.0 and set(metrics) >= {"mAP", "mINP", "top1", "top5"}
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines[-1]["eval"]["mAP"] == metrics["mAP"]
    state = CheckpointManager(tmp_path / "checkpoints").load()
    assert state["epoch"] == 1 and state["iteration"] == trainer.iteration
    assert (tmp_path / "checkpoints" / "best.pth").is_file()

    # export-weights: plain state dicts that reid_core.load accepts, giving the trained features
    images = batches[0]["image"][:4]
    trainer.net.eval()
    with torch.no_grad():
        expected = trainer.net(images)
    for name in ("weights.safetensors", "weights.pth"):
        path = export_weights(tmp_path / "checkpoints" / "last.pth", tmp_path / name)
        model = reid_core.load(MODEL, weights=path)
        with torch.no_grad():
            torch.testing.assert_close(model(images), expected)


@pytest.mark.parametrize(("where", "workers"), [("epoch_end", 0), ("mid_epoch", 1)])
def test_resume_continues_exactly(tiny_root, tmp_path, where, workers):
    """The step after --resume computes the loss the uninterrupted run computed."""
    opts = ("DATALOADER.NUM_WORKERS", str(workers), "INPUT.REA_PROB", "0.5", "SOLVER.BASE_LR", "0.001",
            "SOLVER.WARMUP_ITERS", "3", "DATALOADER.K", "4")
    probe = Trainer(short_run(MODEL, tiny_root, tmp_path / "probe", *opts), progress=False)
    per_epoch = len(probe.loader)
    del probe
    stop = per_epoch if where == "epoch_end" else per_epoch // 2 + 1
    steps_after = 2

    straight = Trainer(short_run(MODEL, tiny_root, tmp_path / "straight", *opts,
                                 "SOLVER.MAX_ITERS", str(stop + steps_after)), progress=False)
    straight.run()
    expected = [h["loss"] for h in straight.history[stop:]]

    first = Trainer(short_run(MODEL, tiny_root, tmp_path / "resumed", *opts, "SOLVER.MAX_ITERS", str(stop)),
                    progress=False)
    first.run()
    assert first.iteration == stop
    assert [h["loss"] for h in first.history] == [h["loss"] for h in straight.history[:stop]]
    del first
    second = Trainer(short_run(MODEL, tiny_root, tmp_path / "resumed", *opts,
                               "SOLVER.MAX_ITERS", str(stop + steps_after)), resume=True, progress=False)
    assert second.iteration == stop
    second.run()
    assert [h["loss"] for h in second.history] == expected
    assert second.history[0]["lr"] == straight.history[stop]["lr"]


def test_frozen_layers_do_not_move(tiny_root, tmp_path):
    cfg = short_run(MODEL, tiny_root, tmp_path, "SOLVER.FREEZE_ITERS", "2", "SOLVER.FREEZE_LAYERS", "('*',)",
                    "SOLVER.OPEN_LAYERS", "('classifier.*',)")
    trainer = Trainer(cfg, progress=False)
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    batches = iter(trainer.loader)
    for _ in range(2):
        trainer._step(next(batches))
        trainer.iteration += 1
    after = trainer.net.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved == {"classifier.weight", "classifier.bias"}  # BN statistics too stay: eval mode
    trainer._step(next(batches))  # iteration 2: the freeze is over
    assert not torch.equal(before["conv1.conv.weight"], trainer.net.state_dict()["conv1.conv.weight"])


def test_signal_saves_and_stops(tiny_root, tmp_path):
    import signal

    trainer = Trainer(short_run(MODEL, tiny_root, tmp_path), progress=False)
    original = trainer._step

    def step_then_signal(batch):
        out = original(batch)
        if trainer.iteration == 2:  # the loop has counted two steps: this is the third
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    trainer._step = step_then_signal
    trainer.run()
    assert trainer.iteration == 3 and trainer.epoch == 0
    state = CheckpointManager(tmp_path / "checkpoints").load()
    assert state["iteration"] == 3 and state["iter_in_epoch"] == 3
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is given back


def test_two_gloo_processes_agree_and_finish(tiny_root, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "reid_core.train", MODEL, "--dataset", "synthetic", "--root", str(tiny_root), "--output", str(out),
        "--no-pretrained",
        "DATASET.KWARGS.num_ids", str(NUM_IDS), "INPUT.SIZE", "(64, 32)", "MODEL.DEVICE", "cpu",
        "DATALOADER.SAMPLER", "pk", "DATALOADER.P", "2", "DATALOADER.K", "4", "DATALOADER.NUM_WORKERS", "0",
        "SOLVER.MAX_EPOCHS", "1", "SOLVER.WARMUP_ITERS", "0", "SOLVER.BASE_LR", "0.001", "LOSS.TRI_WEIGHT", "1.0",
        "SOLVER.FREEZE_EPOCHS", "0",
        "TEST.BATCH_SIZE", "64", "CHECKSUM_LOG", "True",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sums = [[json.loads(x) for x in (out / "checksums" / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert len(sums[0]) == len(sums[1]) >= 2
    assert sums[0] == sums[1]  # bitwise the same parameters on both ranks after every step
    assert sums[0][0]["sum"] != sums[0][-1]["sum"]  # and they did change
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert "eval" in log[-1] and 0.0 <= log[-1]["eval"]["mAP"] <= 1.0  # gathered from both ranks
    assert "mAP" in proc.stdout
    state = CheckpointManager(out / "checkpoints").load()
    assert state["epoch"] == 1
    assert "no pretrained start" in proc.stdout + proc.stderr  # --no-pretrained reached the trainer


def test_freeze_selection_follows_fnmatch_patterns():
    from reid_core.training.config import default_config, merge_overrides
    from reid_core.training.trainer import _frozen_leaves, frozen_names

    net = torch.nn.Module()
    net.backbone = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(2))
    net.heads = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    net.backbone_fc = torch.nn.Linear(2, 2)  # "backbone.*" must not catch a sibling with a longer name
    cfg = default_config()
    merge_overrides(cfg, {"SOLVER": {"FREEZE_LAYERS": ["backbone.*"], "OPEN_LAYERS": ["*.2.*"]}})
    frozen = frozen_names(cfg, net)
    assert frozen == {"backbone.0.weight", "backbone.0.bias"}
    leaves = _frozen_leaves(net, frozen)
    # the frozen linear layer; the dropout beside it follows its parent, which is not all frozen
    assert leaves == [net.backbone[0]]
    merge_overrides(cfg, {"SOLVER": {"OPEN_LAYERS": []}})
    frozen = frozen_names(cfg, net)
    assert _frozen_leaves(net, frozen) == [net.backbone[0], net.backbone[1], net.backbone[2]]


def test_schedule_on_the_clock(tiny_root, tmp_path):
    from reid_core.training.schedule import lr_factor

    cfg = short_run(MODEL, tiny_root, tmp_path, "SOLVER.SCHED", "cosine", "SOLVER.MAX_EPOCHS", "4",
                    "SOLVER.MAX_SECONDS", "100", "SOLVER.SCHED_BY_TIME", "True")
    trainer = Trainer(cfg, progress=False)
    per_epoch = len(trainer.loader)
    lam = trainer.scheduler.lr_lambdas[0]
    assert lam(3) == lr_factor(3, per_epoch, sched="cosine", max_epochs=4)  # no time spent: by iteration
    trainer._elapsed = 50.0  # half the time: half the schedule, though only 3 steps were made
    assert lam(3) == pytest.approx(lr_factor(2 * per_epoch, per_epoch, sched="cosine", max_epochs=4))
    assert lam(3) == pytest.approx(0.5)


def test_pretrained_start_is_loaded_and_logged(tiny_root, tmp_path, caplog):
    torch.manual_seed(3)
    imagenet = reid_core.create_model(MODEL, num_classes=1000).state_dict()  # deep-person-reid's layout
    path = tmp_path / "osnet_x0_25_imagenet.pth"
    torch.save(imagenet, path)
    cfg = short_run(MODEL, tiny_root, tmp_path / "run", "MODEL.PRETRAINED", str(path))
    with caplog.at_level("INFO", logger="reid_core.train"):
        trainer = Trainer(cfg, progress=False)
    assert torch.equal(trainer.net.conv1.conv.weight, imagenet["conv1.conv.weight"])
    assert f"pretrained start from {path}" in caplog.text and "classifier.weight" in caplog.text
    # other weights win over the pretrained start
    cfg = short_run(MODEL, tiny_root, tmp_path / "run2", "MODEL.PRETRAINED", str(tmp_path / "absent.pth"),
                    "MODEL.WEIGHTS", str(path))
    Trainer(cfg, progress=False)
