"""Parameter and MAC counts, measured the same way for every family."""

from __future__ import annotations

import fnmatch

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, classifier: bool = False) -> int:
    """Number of parameters; the training classifier (the model's ``classifier_keys``) only if asked.

    The classifier's size depends on the training set, so it is left out by default: the
    count then describes what runs at inference.
    """
    skip = () if classifier else tuple(getattr(model, "classifier_keys", ()))
    return sum(p.numel() for n, p in model.named_parameters() if not any(fnmatch.fnmatchcase(n, s) for s in skip))


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, int] = (256, 128), camids: bool = False) -> int:
    """Multiply-accumulates of one eval forward pass on one ``3 x H x W`` image.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions; one MAC
    is two FLOPs), on a copy of the model in eval mode.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.rand(1, 3, *input_size, device=device)
    kwargs = {"camids": torch.zeros(1, dtype=torch.long, device=device)} if camids else {}
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(x, **kwargs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def human(n: float) -> str:
    """1234567 -> '1.235M', in the style of the seed's table."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(int(n))
