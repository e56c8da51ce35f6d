"""Learning-rate schedules stepped every iteration: linear warmup, then multi-step or cosine."""

from __future__ import annotations

import bisect
import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(
    iteration: int,
    iters_per_epoch: int,
    *,
    sched: str = "multistep",
    warmup_iters: int = 0,
    warmup_factor: float = 0.1,
    steps: tuple[int, ...] = (),
    gamma: float = 0.1,
    max_epochs: int = 1,
    delay_epochs: int = 0,
    eta_min_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate at ``iteration`` (0-based).

    Warmup rises linearly from ``warmup_factor`` to 1 over ``warmup_iters`` iterations (fast-reid's
    "linear" warmup). ``multistep`` multiplies by ``gamma`` at each epoch of ``steps``; ``cosine``
    holds the rate for ``delay_epochs`` and then anneals it to ``eta_min_ratio`` at ``max_epochs``
    (fast-reid's delayed cosine).
    """
    epoch = iteration / max(iters_per_epoch, 1)
    if sched == "multistep":
        main = gamma ** bisect.bisect_right(sorted(steps), int(epoch))
    elif sched == "cosine":
        if epoch < delay_epochs:
            main = 1.0
        else:
            span = max(max_epochs - delay_epochs, 1e-9)
            progress = min((epoch - delay_epochs) / span, 1.0)
            main = eta_min_ratio + (1 - eta_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"SOLVER.SCHED must be 'multistep' or 'cosine', got {sched!r}")
    if warmup_iters and iteration < warmup_iters:
        alpha = iteration / warmup_iters
        main *= warmup_factor * (1 - alpha) + alpha
    return main


def build_scheduler(optimizer: torch.optim.Optimizer, iters_per_epoch: int, **kwargs) -> LambdaLR:
    """A ``LambdaLR`` applying :func:`lr_factor`; call ``step()`` after every optimizer step."""
    return LambdaLR(optimizer, lambda it: lr_factor(it, iters_per_epoch, **kwargs))
