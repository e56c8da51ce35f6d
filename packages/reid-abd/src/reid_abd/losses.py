"""ABD-Net's orthogonality regularizers (the "diverse" in Attentive but Diverse).

Both push a Gram matrix towards a multiple of the identity by penalizing the spread of its
spectrum, estimated cheaply: the largest eigenvalue ``l`` of a symmetric PSD matrix ``A`` by a
Rayleigh quotient after one power-iteration step from a random vector, then the dominant
eigenvalue ``t`` of ``A - l*I`` the same way; ``-t`` estimates ``l_max - l_min``. As upstream's,
the estimate is crude (never above the true spread, sometimes far below it, even negative) and
stochastic through its random start (pass a ``generator`` for repeatability).

* :func:`of_penalty` (orthogonal features, ``use_of``, beta 1e-6): on the feature maps the model
  returns in train mode, the spread of ``F F^T`` (channels x channels) per image.
* :func:`ow_penalty` (orthogonal weights, ``use_ow``, beta 1e-3): on trunk convolution kernels,
  ``10 * beta * spread(W^T W)^2`` with ``W`` the kernel flattened to ``(in*kh*kw) x out``.

A training step of the seed's recipe::

    out = model(images)                         # train mode: logits, features, fmaps
    loss = sum(ce(l, pids) for l in out["logits"]) + triplet_terms(out["features"], pids)
    loss = loss + of_penalty(out["fmaps"]) + ow_penalty(model)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

#: the maps upstream regularizes (``of_position``)
OF_POSITIONS: tuple[str, ...] = ("before", "after", "cam", "pam", "intermediate")


def _rayleigh_after_one_step(a: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Rayleigh quotient of ``a`` ([..., N, N], symmetric) at ``a @ start`` ([..., N, 1])."""
    v = a @ start
    av = a @ v
    norm2 = (v.transpose(-1, -2) @ v).flatten()
    # A zero matrix (e.g. the shifted Gram of perfectly orthogonal features) gives 0, not 0/0.
    return (av.transpose(-1, -2) @ v).flatten() / norm2.clamp_min(torch.finfo(norm2.dtype).tiny)


def _spectral_spread(gram: torch.Tensor, start: str, generator: torch.Generator | None) -> torch.Tensor:
    """Estimate of ``l_max - l_min`` for each matrix of ``gram`` ([B, N, N] or [N, N]).

    ``start`` picks the random start vector's law: ``"normal"`` (upstream's feature penalty) or
    ``"uniform"`` (its weight penalty).
    """
    sample = torch.randn if start == "normal" else torch.rand
    shape = (*gram.shape[:-1], 1)

    def draw() -> torch.Tensor:
        return sample(shape, generator=generator, dtype=gram.dtype, device="cpu").to(gram.device)

    largest = _rayleigh_after_one_step(gram, draw())
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    shifted = gram - largest.view(*gram.shape[:-2], 1, 1) * eye
    return -_rayleigh_after_one_step(shifted, draw())


def feature_spread(fmap: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-image spectral spread ``[B]`` of ``F F^T``, ``F`` = the ``[C, H*W]`` map of each image."""
    flat = fmap.float().flatten(2)
    return _spectral_spread(flat @ flat.transpose(1, 2), "normal", generator)


def of_penalty(
    fmaps: Mapping[str, Sequence[torch.Tensor] | torch.Tensor],
    beta: float = 1e-6,
    positions: Iterable[str] = OF_POSITIONS,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Orthogonal-feature penalty on the maps of a train-mode ABD-Net output (``out["fmaps"]``).

    For every selected position, each of its maps (e.g. one per stripe) contributes
    ``beta * sum_b spread_b / (B / 32)`` (upstream normalizes to a batch of 32), scaled by 0.01
    for the ``"intermediate"`` map; the maps of a position are averaged and the positions summed.

    Args:
        fmaps: position -> map ``[B, C, H, W]`` or sequence of such maps.
        beta: weight (``of_beta``); the seed trained with 1e-6.
        positions: which positions to regularize; absent ones are skipped.
        generator: random source of the power-iteration start vectors.

    Returns:
        A scalar tensor (0 when no selected position is present).
    """
    total: torch.Tensor | None = None
    for position in positions:
        maps = fmaps.get(position)
        if maps is None:
            continue
        maps = [maps] if isinstance(maps, torch.Tensor) else list(maps)
        if not maps:
            continue
        scale = beta * (0.01 if position == "intermediate" else 1.0)
        terms = [feature_spread(m, generator).sum() * scale * 32.0 / m.shape[0] for m in maps]
        term = torch.stack(terms).mean()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total


def weight_spread(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Spectral spread of ``W^T W`` for a conv kernel ``[out, in, kh, kw]`` (a scalar)."""
    w = weight.float().flatten(1).t()  # (in*kh*kw) x out
    return _spectral_spread(w.t() @ w, "uniform", generator).squeeze(0)


def ow_penalty(
    model: nn.Module | Iterable[nn.Conv2d],
    beta: float = 1e-3,
    scope: str = "upstream",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Orthogonal-weight penalty: ``sum over convs of 10 * beta * spread(W^T W)^2``.

    Args:
        model: an :class:`reid_abd.ABDNet` (its :meth:`~reid_abd.ABDNet.regularized_convs` for
            ``scope``) or an iterable of ``nn.Conv2d``.
        beta: weight (``ow_beta``); the seed trained with 1e-3.
        scope: ``"upstream"`` (the convolutions ABD-Net's own code regularizes: for ResNet-50 only
            the stem, for DenseNet-121 the whole trunk) or ``"all"`` (every trunk convolution).
        generator: random source of the power-iteration start vectors.

    Convolutions with a single output channel are skipped (their Gram matrix is a scalar).
    """
    convs = model.regularized_convs(scope) if hasattr(model, "regularized_convs") else list(model)
    total = torch.zeros(())
    for conv in convs:
        if conv.weight.shape[0] == 1:
            continue
        total = total.to(conv.weight.device) + 10.0 * beta * weight_spread(conv.weight, generator) ** 2
    return total
