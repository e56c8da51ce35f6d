"""Parameter and MAC counts, measured the same way for every family."""

from __future__ import annotations

import fnmatch

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, classifier: bool = False) -> int:
    """Number of parameters; the training classifier (the model's ``classifier_keys``) only if asked.

    The classifier's size depends on the training set, so it is left out by default.
    """
    skip = () if classifier else tuple(getattr(model, "classifier_keys", ()))
    return sum(p.numel() for n, p in model.named_parameters() if not any(fnmatch.fnmatchcase(n, s) for s in skip))


@torch.no_grad()
def count_inference(
    model: nn.Module, input_size: tuple[int, int] = (256, 128), camids: bool = False
) -> tuple[int, int]:
    """``(params, MACs)`` of one eval forward pass on one ``3 x H x W`` image.

    Params are those of the modules the pass runs, so heads that only train (classifiers, an
    ImageNet ``fc`` kept for checkpoint compatibility) are not counted, as the seed's counter
    did not count them. MACs come from :class:`torch.utils.flop_counter.FlopCounterMode`
    (matmuls and convolutions; one MAC is two FLOPs).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.rand(1, 3, *input_size, device=device)
    kwargs = {"camids": torch.zeros(1, dtype=torch.long, device=device)} if camids else {}
    ran: set[nn.Module] = set()
    hooks = [m.register_forward_pre_hook(lambda mod, _args: ran.add(mod)) for m in model.modules()]
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(x, **kwargs)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for m in ran for p in m.parameters(recurse=False))
    return params, counter.get_total_flops() // 2


def count_macs(model: nn.Module, input_size: tuple[int, int] = (256, 128), camids: bool = False) -> int:
    """MACs of one eval forward pass on one ``3 x H x W`` image (see :func:`count_inference`)."""
    return count_inference(model, input_size, camids)[1]


def human(n: float) -> str:
    """1234567 -> '1.235M', in the style of the seed's table."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return str(int(n))
