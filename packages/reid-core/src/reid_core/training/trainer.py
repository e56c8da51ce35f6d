"""The training loop: one process or many (PyTorch DDP through ``torchrun``), AMP, exact resume."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import math
import os
import random
import signal
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
from .objective import Objective
from .schedule import build_scheduler, lr_factor

log = logging.getLogger("reid_core.train")


# -- distributed -------------------------------------------------------------------------------


def _init_distributed(want: str = "") -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    ``want`` is ``MODEL.DEVICE``: ``""`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if want not in ("", "cpu", "cuda"):
        raise ValueError(f"MODEL.DEVICE must be '', 'cpu' or 'cuda', got {want!r}")
    if want == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("MODEL.DEVICE is 'cuda' but no CUDA device is available")
    if want != "cpu" and torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, device


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


# -- pieces built from the config ---------------------------------------------------------------


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """Adam / AMSGrad / AdamW / SGD over every parameter of ``model``.

    Biases learn at ``BIAS_LR_FACTOR`` times the rate with ``WEIGHT_DECAY_BIAS``; the scales of
    normalization layers decay with ``WEIGHT_DECAY_NORM``; the rest with ``WEIGHT_DECAY``. Frozen
    (``requires_grad=False``) parameters, such as a BNNeck's shift, are left out.
    """
    s = cfg.SOLVER
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    norm_params = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)}
    decay, norms, biases = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith(".bias"):
            biases.append(p)
        elif id(p) in norm_params:
            norms.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": s.WEIGHT_DECAY},
        {"params": norms, "weight_decay": s.WEIGHT_DECAY_NORM},
        {"params": biases, "weight_decay": s.WEIGHT_DECAY_BIAS, "lr": s.BASE_LR * s.BIAS_LR_FACTOR},
    ]
    groups = [g for g in groups if g["params"]]
    if s.OPTIM == "SGD":
        return torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV)
    if s.OPTIM in ("Adam", "AMSGrad"):
        return torch.optim.Adam(groups, lr=s.BASE_LR, amsgrad=s.OPTIM == "AMSGrad")
    if s.OPTIM == "AdamW":
        return torch.optim.AdamW(groups, lr=s.BASE_LR)
    raise ValueError(f"SOLVER.OPTIM must be Adam, AMSGrad, AdamW or SGD, got {s.OPTIM!r}")


def frozen_names(cfg: CfgNode, model: nn.Module) -> set[str]:
    """Parameter names that the freeze period (``SOLVER.FREEZE_*``) keeps from learning."""
    s = cfg.SOLVER
    freeze, keep = tuple(s.FREEZE_LAYERS), tuple(s.OPEN_LAYERS)
    return {
        name for name, _ in model.named_parameters()
        if any(fnmatch.fnmatchcase(name, p) for p in freeze) and not any(fnmatch.fnmatchcase(name, p) for p in keep)
    }


def _frozen_leaves(model: nn.Module, frozen: set[str]) -> list[nn.Module]:
    """The leaf modules (norms, dropouts, ...) to run in eval mode while ``frozen`` parameters are frozen.

    A module is frozen when it has parameters and all of them are frozen; a leaf without
    parameters (dropout, a parameter-free norm) follows its parent.
    """
    if not frozen:
        return []
    state: dict[str, bool] = {}
    for name, module in model.named_modules():
        names = [f"{name}.{p}" if name else p for p, _ in module.named_parameters()]
        state[name] = bool(names) and all(n in frozen for n in names)
    leaves = []
    for name, module in model.named_modules():
        if not name or any(True for _ in module.children()):
            continue
        has_params = any(True for _ in module.parameters(recurse=False))
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if state[name] if has_params else state.get(parent, False):
            leaves.append(module)
    return leaves


def _pretrained_start(cfg: CfgNode, resuming: bool) -> str | None:
    """``backbone_weights=`` for the model: ``MODEL.PRETRAINED`` unless it is off or other weights win."""
    value = str(cfg.MODEL.PRETRAINED or "").strip()
    if not value or value.lower() == "none" or resuming:
        return None
    if cfg.MODEL.WEIGHTS:
        log.info("MODEL.WEIGHTS is set: no pretrained start from MODEL.PRETRAINED %r", value)
        return None
    return value


def _amp_dtype(cfg: CfgNode, device: torch.device) -> torch.dtype | None:
    choice = str(cfg.SOLVER.AMP).lower()
    if device.type != "cuda" or choice in ("off", "false", "none", ""):
        return None
    if choice == "fp16":
        return torch.float16
    if choice == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# -- the trainer --------------------------------------------------------------------------------


class Trainer:
    """Builds everything from a config and runs the loop; see :func:`reid_core.train`.

    Attributes after :meth:`run`: ``history`` (one dict per step: epoch, iteration, loss and its
    parts, lr) and ``metrics`` (the last evaluation).
    """

    def __init__(self, cfg: CfgNode, *, resume: str | os.PathLike | bool | None = None, progress: bool = True) -> None:
        self.rank, self.world, self.device = _init_distributed(cfg.MODEL.DEVICE)
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
        pretrained = _pretrained_start(cfg, resuming=state is not None)
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
        self._frozen_leaves = _frozen_leaves(model, self._frozen)
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
        self.amp_dtype = _amp_dtype(cfg, self.device)
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
        self._stop_signal: int | None = None

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
            persistent_workers=False,
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

    def _handle_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signum

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
        handlers = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread
                handlers[sig] = signal.signal(sig, self._handle_signal)
        writer = self._tensorboard()
        self._started = time.monotonic()
        try:
            while self.epoch < c.SOLVER.MAX_EPOCHS:
                if self._run_epoch(writer):
                    break
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
            if writer is not None:
                writer.close()
        return self.metrics

    def _run_epoch(self, writer: Any) -> bool:
        """One epoch (or the rest of an interrupted one). True when training must stop now."""
        c = self.cfg
        self.sampler.set_epoch(self.epoch)
        if self._resume_rng is not None:
            epoch_rng, now_rng = self._resume_rng
            self._resume_rng = None
            set_rng_state(epoch_rng)
        else:
            epoch_rng, now_rng = rng_state(), None
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
                self._write_checksum()
            bar.update(1)
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
            if self.iteration % c.LOG_PERIOD == 0:
                self._write_log(record, writer)
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
        self._write_log(summary, writer)
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

    # -- logging
    def _tensorboard(self) -> Any:
        if not (self.cfg.TENSORBOARD and self.is_main):
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(Path(self.cfg.OUTPUT_DIR) / "tensorboard"))

    def _write_log(self, record: dict[str, Any], writer: Any) -> None:
        if not self.is_main:
            return
        path = Path(self.cfg.OUTPUT_DIR) / "log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
        if writer is not None:
            for key, value in record.items():
                if isinstance(value, float):
                    writer.add_scalar(f"train/{key}", value, self.iteration)
            for key, value in record.get("eval", {}).items():
                writer.add_scalar(f"eval/{key}", value, self.iteration)

    def _write_checksum(self) -> None:
        """Append this rank's parameter checksum (float64 sum and sum of squares) for the step."""
        with torch.no_grad():
            flat = torch.cat([p.detach().double().flatten().cpu() for p in self.net.parameters()])
        path = Path(self.cfg.OUTPUT_DIR) / "checksums" / f"rank{self.rank}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps({"iteration": self.iteration, "sum": float(flat.sum()),
                                "sumsq": float(flat.pow(2).sum())}) + "\n")
