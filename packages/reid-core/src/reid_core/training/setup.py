"""What a training run is built from: the distributed process group, the optimizer and the freeze
period and the pretrained start, read from the config. :class:`~reid_core.training.trainer.Trainer` runs the loop over them."""

from __future__ import annotations

import fnmatch
import logging
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from yacs.config import CfgNode

log = logging.getLogger("reid_core.train")

# -- distributed -------------------------------------------------------------------------------


def init_distributed(want: str = "") -> tuple[int, int, torch.device]:
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


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper, or the model itself."""
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


def frozen_leaves(model: nn.Module, frozen: set[str]) -> list[nn.Module]:
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


def pretrained_start(cfg: CfgNode, resuming: bool) -> str | None:
    """``backbone_weights=`` for the model: ``MODEL.PRETRAINED`` unless it is off or other weights win."""
    value = str(cfg.MODEL.PRETRAINED or "").strip()
    if not value or value.lower() == "none" or resuming:
        return None
    if cfg.MODEL.WEIGHTS:
        log.info("MODEL.WEIGHTS is set: no pretrained start from MODEL.PRETRAINED %r", value)
        return None
    return value


def amp_dtype(cfg: CfgNode, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``SOLVER.AMP`` asks for on ``device`` (None: full precision)."""
    choice = str(cfg.SOLVER.AMP).lower()
    if device.type != "cuda" or choice in ("off", "false", "none", ""):
        return None
    if choice == "fp16":
        return torch.float16
    if choice == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16
