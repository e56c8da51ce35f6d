"""The training loop: one process or many (PyTorch DDP through ``torchrun``), AMP, exact resume.

What surrounds the loop lives beside it: :mod:`~reid_core.training.setup` builds the pieces from
the config, :mod:`~reid_core.training.guard` holds the output folder and the stop signals,
:mod:`~reid_core.training.run_log` writes the logs, :mod:`~reid_core.training.checkpoint` the
checkpoints."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm
from yacs.config import CfgNode

from ..checkpoint import load_weights
from ..data import ImageDataset, PKSampler, build_dataset, train_transforms
from ..registry import create_model
from .checkpoint import CheckpointManager, rng_state, set_rng_state
from .guard import OutputLock, StopSignals, ignore_stop_signals, remove_stale_temporaries, signals_held
from .objective import Objective
from .run_log import RunLog
from .schedule import build_scheduler, lr_factor
from .setup import amp_dtype, build_optimizer, frozen_leaves, frozen_names, init_distributed, pretrained_start

log = logging.getLogger("reid_core.train")


# -- the trainer --------------------------------------------------------------------------------


class Trainer:
    """Builds everything from a config and runs the loop; see :func:`reid_core.train`.

    Attributes after :meth:`run`: ``history`` (one dict per step: epoch, iteration, loss and its
    parts, lr) and ``metrics`` (the last evaluation).
    """

    def __init__(self, cfg: CfgNode, *, resume: str | os.PathLike | bool | None = None, progress: bool = True) -> None:
        self.rank, self.world, self.device = init_distributed(cfg.MODEL.DEVICE)
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        out = Path(cfg.OUTPUT_DIR)
        self.ckpt = CheckpointManager(out / "checkpoints", keep_last=cfg.KEEP_LAST)
        state = None
        if resume:
            state = self.ckpt.load(None if resume is True else resume)
            saved = CfgNode.load_cfg(state["config"])
            # The checkpoint's recipe continues; limits given now (epochs, iterations) still apply.
            for key in ("MAX_EPOCHS", "MAX_ITERS", "MAX_SECONDS"):
                saved.SOLVER[key] = cfg.SOLVER[key]
            saved.OUTPUT_DIR = cfg.OUTPUT_DIR
            saved.CHECKSUM_LOG = cfg.CHECKSUM_LOG
            cfg = saved
        cfg.freeze()
        self.cfg = cfg
        self._seed(cfg.SEED + self.rank)

        self.dataset = build_dataset(cfg.DATASET.NAME, cfg.DATASET.ROOT or None, **dict(cfg.DATASET.KWARGS))
        self.num_classes = self.dataset.num_train_pids
        pretrained = pretrained_start(cfg, resuming=state is not None)
        model = create_model(cfg.MODEL.NAME, num_classes=self.num_classes, camera_num=self.dataset.num_cameras,
                             backbone_weights=pretrained, **dict(cfg.MODEL.KWARGS))
        if model.backbone_report is not None:
            self._log(model.backbone_report.describe())
        elif state is None and not cfg.MODEL.WEIGHTS:
            self._log(f"{cfg.MODEL.NAME}: no pretrained start (MODEL.PRETRAINED is empty), random init")
        if cfg.MODEL.WEIGHTS and state is None:
            report = load_weights(model, cfg.MODEL.WEIGHTS, strict=False, drop_classifier=True)
            self._log(report.describe())
        self.feature_dim = model.feature_dim
        self.camera_aware = model.camera_aware
        model.to(self.device)
        if self.device.type == "cuda" and cfg.SOLVER.CHANNELS_LAST:
            model.to(memory_format=torch.channels_last)
        self.objective = Objective(cfg, self.num_classes, self.feature_dim).to(self.device)
        self.optimizer = build_optimizer(cfg, model)
        self.center_optimizer = (
            torch.optim.SGD(self.objective.center.parameters(), lr=cfg.LOSS.CENTER_LR)
            if self.objective.center is not None else None
        )
        self.loader, self.sampler = self._train_loader(model)
        s = cfg.SOLVER
        per_epoch = len(self.loader)
        warmup = round(s.WARMUP_EPOCHS * per_epoch) if s.WARMUP_EPOCHS > 0 else s.WARMUP_ITERS
        self.freeze_iters = max(s.FREEZE_ITERS, s.FREEZE_EPOCHS * per_epoch)
        self._frozen = frozen_names(cfg, model) if self.freeze_iters else set()
        self._frozen_params = [p for n, p in model.named_parameters() if n in self._frozen]
        self._frozen_leaves = frozen_leaves(model, self._frozen)
        schedule = {"sched": s.SCHED, "warmup_iters": warmup, "warmup_factor": s.WARMUP_FACTOR, "steps": tuple(s.STEPS),
                    "gamma": s.GAMMA, "max_epochs": s.MAX_EPOCHS, "delay_epochs": s.DELAY_EPOCHS,
                    "eta_min_ratio": s.ETA_MIN_RATIO}
        self._started: float | None = None
        self._elapsed = 0.0
        self._timed = bool(s.SCHED_BY_TIME and s.MAX_SECONDS > 0)
        if self._timed:
            self.scheduler = LambdaLR(self.optimizer, lambda it: lr_factor(self._timed_position(it), per_epoch, **schedule))
        else:
            self.scheduler = build_scheduler(self.optimizer, per_epoch, **schedule)
        self.amp_dtype = amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.net = model  # the bare model: state dicts, evaluation, regularizers
        if self.world > 1:
            model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=s.FIND_UNUSED_PARAMETERS,
            )
        self.model = torch.compile(model) if s.COMPILE else model

        self.epoch, self.iteration, self.iter_in_epoch = 0, 0, 0
        self.best = -math.inf
        self.history: list[dict[str, Any]] = []
        self.metrics: dict[str, float] = {}
        self._resume_rng = None
        if state is not None:
            self._restore(state)
        self._signals = StopSignals()

    # -- setup helpers
    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _train_loader(self, model: nn.Module) -> tuple[DataLoader, Any]:
        c = self.cfg
        transform = train_transforms(
            tuple(c.INPUT.SIZE), mean=model.mean, flip_prob=c.INPUT.FLIP_PROB, pad=c.INPUT.PADDING,
            erase_prob=c.INPUT.REA_PROB, autoaugment_prob=c.INPUT.AUTOAUG_PROB,
            color_jitter_prob=0.5 if c.INPUT.COLOR_JITTER else 0.0,
        )
        data = ImageDataset(self.dataset.train, transform)
        batch = c.DATALOADER.P * c.DATALOADER.K
        if c.DATALOADER.SAMPLER == "pk":
            sampler: Any = PKSampler(data.pids, c.DATALOADER.P, c.DATALOADER.K, seed=c.SEED)
        elif c.DATALOADER.SAMPLER == "random":
            # A seeded, epoch-aware shuffle (one share per rank), so that a resumed run sees the same batches.
            sampler = DistributedSampler(data, num_replicas=self.world, rank=self.rank, shuffle=True,
                                         seed=c.SEED, drop_last=True)
        else:
            raise ValueError(f"DATALOADER.SAMPLER must be 'pk' or 'random', got {c.DATALOADER.SAMPLER!r}")
        loader = DataLoader(
            data, batch_size=batch, sampler=sampler, num_workers=c.DATALOADER.NUM_WORKERS,
            drop_last=True, pin_memory=self.device.type == "cuda",
            persistent_workers=False, worker_init_fn=ignore_stop_signals,
        )
        if len(loader) == 0:
            raise ValueError(f"the training split ({len(data)} images) does not fill one batch of {batch} images")
        return loader, sampler

    def _log(self, msg: str) -> None:
        if self.is_main:
            log.info(msg)

    # -- checkpoints
    def _state(self, epoch_rng: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": self.net.state_dict(),
            "model_name": self.cfg.MODEL.NAME,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "objective": self.objective.state_dict(),
            "center_optimizer": self.center_optimizer.state_dict() if self.center_optimizer else {},
            "epoch": self.epoch,
            "iteration": self.iteration,
            "iter_in_epoch": self.iter_in_epoch,
            "epoch_rng": epoch_rng,
            "rng": rng_state(),
            "best": self.best,
            "metrics": dict(self.metrics),
            "config": self.cfg.dump(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.objective.load_state_dict(state["objective"])
        if self.center_optimizer and state["center_optimizer"]:
            self.center_optimizer.load_state_dict(state["center_optimizer"])
        self.epoch, self.iteration = state["epoch"], state["iteration"]
        self.iter_in_epoch = state["iter_in_epoch"]
        self.best, self.metrics = state["best"], dict(state["metrics"])
        self._resume_rng = (state["epoch_rng"], state["rng"])

    # -- the loop
    def _set_modes(self) -> bool:
        """Training mode, with the frozen layers' norms and dropouts in eval mode while frozen."""
        self.model.train()
        frozen = self.iteration < self.freeze_iters and bool(self._frozen)
        if frozen:
            for m in self._frozen_leaves:
                m.training = False
        return frozen

    def _step(self, batch: dict[str, Any]) -> dict[str, float]:
        frozen = self._set_modes()
        images = batch["image"].to(self.device, non_blocking=True)
        if self.device.type == "cuda" and self.cfg.SOLVER.CHANNELS_LAST:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = batch["pid"].to(self.device, non_blocking=True)
        kwargs = {"camids": batch["camid"].to(self.device)} if self.camera_aware else {}
        if getattr(self.net, "wants_targets", False):  # e.g. CLIP-ReID: text features of the batch's identities
            kwargs["targets"] = targets
        autocast = (torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext())
        with autocast:
            out = self.model(images, **kwargs)
            loss, parts = self.objective(out, targets, model=self.net, epoch=self.epoch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.center_optimizer:
            self.center_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if frozen:
            # As fast-reid: the gradients reach the frozen layers (DDP needs them all) but do not move them.
            for p in self._frozen_params:
                p.grad = None
        if self.cfg.SOLVER.CLIP_GRAD > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.SOLVER.CLIP_GRAD)
        self.scaler.step(self.optimizer)
        if self.center_optimizer:
            self.scaler.unscale_(self.center_optimizer)
            for p in self.objective.parameters():
                if p.grad is None:
                    continue
                if self.world > 1:  # the centers live outside DDP: average their gradients by hand
                    dist.all_reduce(p.grad)
                    p.grad.div_(self.world)
                # reid-strong-baseline: the centers learn at their own rate, undoing the loss weight.
                p.grad.mul_(1.0 / self.cfg.LOSS.CENTER_WEIGHT)
            self.scaler.step(self.center_optimizer)
        self.scaler.update()
        if self._timed:
            self._tick()
        self.scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss is {value} at iteration {self.iteration}; lower SOLVER.BASE_LR")
        return {"loss": value, **parts}

    def _timed_position(self, iteration: int) -> float:
        """Where the schedule is when it follows the clock (``SOLVER.SCHED_BY_TIME``): the iteration,
        or the share of ``MAX_SECONDS`` spent times the iterations of ``MAX_EPOCHS``, whichever is ahead."""
        share = self._elapsed / self.cfg.SOLVER.MAX_SECONDS
        return max(float(iteration), share * self.cfg.SOLVER.MAX_EPOCHS * len(self.loader))

    def _tick(self) -> None:
        """Update the training time the timed schedule reads (the slowest rank's, so all ranks agree)."""
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        if self.world > 1 and dist.is_initialized():
            t = torch.tensor([elapsed], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            elapsed = float(t.item())
        self._elapsed = elapsed

    @property
    def _stop_signal(self) -> int | None:
        return self._signals.received

    def _should_stop(self) -> bool:
        c = self.cfg
        stop = (
            bool(c.SOLVER.MAX_ITERS and self.iteration >= c.SOLVER.MAX_ITERS)
            or bool(c.SOLVER.MAX_SECONDS and time.monotonic() - self._started >= c.SOLVER.MAX_SECONDS)
            or self._stop_signal is not None
        )
        if self.world > 1 and dist.is_initialized():
            # A signal may reach the ranks at different steps: all stop together or none does.
            flag = torch.tensor([1.0 if stop else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def run(self) -> dict[str, float]:
        """Train to ``SOLVER.MAX_EPOCHS`` (or ``MAX_ITERS``, or a signal); returns the last metrics."""
        c = self.cfg
        with contextlib.ExitStack() as stack:
            if self.is_main:  # the other ranks write nothing into the folder
                stack.enter_context(OutputLock(c.OUTPUT_DIR))
                remove_stale_temporaries(self.ckpt.folder)
            stack.enter_context(self._signals)
            writer = RunLog(c.OUTPUT_DIR, is_main=self.is_main, rank=self.rank, tensorboard=c.TENSORBOARD)
            stack.callback(writer.close)
            self._started = time.monotonic()
            while self.epoch < c.SOLVER.MAX_EPOCHS:
                if self._run_epoch(writer):
                    break
        return self.metrics

    def _run_epoch(self, writer: RunLog) -> bool:
        """One epoch (or the rest of an interrupted one). True when training must stop now."""
        c = self.cfg
        self.sampler.set_epoch(self.epoch)
        if self._resume_rng is not None:
            epoch_rng, now_rng = self._resume_rng
            self._resume_rng = None
            set_rng_state(epoch_rng)
        else:
            epoch_rng, now_rng = rng_state(), None
        with signals_held():  # the workers start here, and must not die of a stop signal
            batches = iter(self.loader)  # worker seeds come from the epoch's RNG state
        if self.iter_in_epoch:
            # An interrupted epoch: replay the batches already learnt (the same augmentations, in
            # the loader's workers or here), then take up the RNG where the interrupted step left it.
            for _ in range(self.iter_in_epoch):
                next(batches)
            set_rng_state(now_rng)
        bar = tqdm(total=len(self.loader), initial=self.iter_in_epoch, disable=not self.progress,
                   desc=f"epoch {self.epoch + 1}/{c.SOLVER.MAX_EPOCHS}", leave=False)
        stop = False
        losses = []
        for batch in batches:
            parts = self._step(batch)
            self.iteration += 1
            self.iter_in_epoch += 1
            record = {"epoch": self.epoch + 1, "iteration": self.iteration, "lr": self.scheduler.get_last_lr()[0], **parts}
            self.history.append(record)
            losses.append(parts["loss"])
            if c.CHECKSUM_LOG:
                writer.checksum(self.net, self.iteration)
            bar.update(1)
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
            if self.iteration % c.LOG_PERIOD == 0:
                writer.write(record, self.iteration)
            if self._should_stop():
                stop = True
                break
        bar.close()
        if stop and self.iter_in_epoch < len(self.loader):
            if self.is_main:
                self.ckpt.save(self._state(epoch_rng))
                why = f"signal {self._stop_signal}" if self._stop_signal is not None else "SOLVER.MAX_ITERS/MAX_SECONDS"
                self._log(f"stopped by {why} at iteration {self.iteration}; resume with --resume")
            self._barrier()
            return True
        self.epoch += 1
        self.iter_in_epoch = 0
        summary: dict[str, Any] = {"epoch": self.epoch, "iteration": self.iteration,
                                   "epoch_loss": sum(losses) / max(len(losses), 1)}
        period = c.TEST.EVAL_PERIOD
        evaluate_now = (period > 0 and self.epoch % period == 0) or (period >= 0 and self.epoch == c.SOLVER.MAX_EPOCHS)
        is_best = False
        if evaluate_now:
            self.metrics = self.evaluate()
            is_best = self.metrics.get("mAP", -math.inf) > self.best
            self.best = max(self.best, self.metrics.get("mAP", -math.inf))
            summary["eval"] = self.metrics
        writer.write(summary, self.iteration)
        if self.is_main:
            self.ckpt.save(self._state(rng_state()), epoch=self.epoch, is_best=is_best)
        self._barrier()
        return stop

    def _barrier(self) -> None:
        if dist.is_initialized():
            dist.barrier()

    def evaluate(self) -> dict[str, float]:
        """Extract query and gallery features on every rank, gather them, and score on rank 0."""
        from .evaluation_loop import evaluate_split

        return evaluate_split(self, self.dataset)
