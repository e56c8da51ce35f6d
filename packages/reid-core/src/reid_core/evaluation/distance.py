"""Pairwise distances between query and gallery features.

Two metrics, both "smaller is closer":

* ``"cosine"``: ``1 - <q, g>`` of L2-normalized features, in [0, 2].
* ``"euclidean"``: the **squared** euclidean distance ``|q - g|^2`` (as torchreid's), computed as
  ``|q|^2 + |g|^2 - 2 <q, g>`` and clamped at 0 against rounding.

Features far from 1 in scale (1e20, 1e-30) overflow or underflow once squared in float32, which
ties every distance or turns it into NaN: :func:`unit_rows` scales each row by its largest value
before normalizing, and :func:`common_scale` brings both sets to a common power-of-two scale, which
keeps the order of euclidean distances exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ._inputs import as_features, check_metric
from .errors import EvaluationError

METRICS = ("cosine", "euclidean")


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` scaled to unit L2 norm, safe for any finite scale (all-zero rows stay zero).

    ``F.normalize`` alone squares the values: rows of 1e20 overflow to an infinite norm and become
    zero, rows of 1e-30 underflow to a zero norm and stay tiny. Dividing by the row's largest
    magnitude first keeps the squares in range.
    """
    peak = x.abs().amax(1, keepdim=True)
    peak = torch.where(peak > 0, peak, torch.ones_like(peak))
    return F.normalize(x / peak, dim=1)


def common_scale(q: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``q`` and ``g`` multiplied by one power of two that brings their largest magnitude to [0.5, 1),
    and that factor (1.0 when the features are already in a safe range).

    A power of two changes no mantissa, so the order of the (squared) euclidean distances is that of
    the original features, while their squares no longer overflow (1e20) or underflow (1e-30).
    """
    peak = max(float(q.abs().max()) if q.numel() else 0.0, float(g.abs().max()) if g.numel() else 0.0)
    if peak == 0.0 or 2.0**-8 <= peak <= 2.0**8:
        return q, g, 1.0
    # bounded so that the factor itself stays a finite float32
    exponent = min(max(math.frexp(peak)[1], -120), 120)
    factor = 2.0**-exponent
    return q * factor, g * factor, factor


class GalleryDistance:
    """Distances from any block of query rows to one gallery, with the gallery prepared once.

    Args:
        gallery: float features ``[G, D]``.
        metric: ``"cosine"`` or ``"euclidean"`` (squared).
    """

    def __init__(self, gallery: torch.Tensor, metric: str = "cosine") -> None:
        self.metric = check_metric(metric)
        if metric == "cosine":
            self.gallery = unit_rows(gallery)
            self.sq_norms = None
        else:
            self.gallery = gallery
            self.sq_norms = gallery.pow(2).sum(1)

    def prepare_queries(self, q: torch.Tensor) -> torch.Tensor:
        """Queries in the form :meth:`rows` expects (normalized for cosine)."""
        return unit_rows(q) if self.metric == "cosine" else q

    def rows(self, q: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Distances ``[len(q), G]`` from prepared query rows ``q`` (see :meth:`prepare_queries`).

        ``out``, a contiguous ``[len(q), G]`` tensor, receives them when given: reusing one buffer
        spares the CPU the page faults of a fresh large allocation per chunk.
        """
        if self.metric == "cosine":
            one = torch.ones(1, 1, dtype=q.dtype, device=q.device)
            return torch.addmm(one, q, self.gallery.t(), alpha=-1.0, out=out)
        d = torch.addmm(self.sq_norms.unsqueeze(0), q, self.gallery.t(), beta=1.0, alpha=-2.0, out=out)
        return d.add_(q.pow(2).sum(1, keepdim=True)).clamp_(min=0.0)

    def pairs(self, q: torch.Tensor, g_index: torch.Tensor) -> torch.Tensor:
        """Distances between prepared query rows ``q [n, D]`` and gallery rows ``g_index [n, k]``: ``[n, k]``."""
        g = self.gallery[g_index]
        dots = torch.einsum("nd,nkd->nk", q, g)
        if self.metric == "cosine":
            return dots.neg_().add_(1.0)
        return (q.pow(2).sum(1, keepdim=True) + self.sq_norms[g_index] - 2 * dots).clamp_(min=0.0)


def common_features(q_feats: Any, g_feats: Any, q_name: str = "q_feats",
                    g_name: str = "g_feats") -> tuple[torch.Tensor, torch.Tensor]:
    """Query and gallery features as checked tensors of one dtype, on one device."""
    q = as_features(q_feats, q_name)
    g = as_features(g_feats, g_name)
    if q.shape[1] != g.shape[1]:
        raise EvaluationError(f"{q_name} has dimension {q.shape[1]} but {g_name} has {g.shape[1]}")
    if q.device != g.device:
        raise EvaluationError(f"{q_name} is on {q.device} but {g_name} is on {g.device}")
    dtype = torch.promote_types(q.dtype, g.dtype)
    return q.to(dtype), g.to(dtype)


def compute_distance(q: Any, g: Any, metric: str = "cosine") -> torch.Tensor:
    """The full distance matrix ``[Q, G]`` on the device of the features.

    Args:
        q: query features ``[Q, D]`` (torch tensor or numpy array).
        g: gallery features ``[G, D]``.
        metric: ``"cosine"`` (``1 - cos``) or ``"euclidean"`` (**squared** euclidean, as torchreid's).

    Returns:
        float tensor ``[Q, G]``; float64 inputs give float64, half precision is computed in float32.

    For large problems prefer :func:`~reid_core.evaluation.evaluate_features`, which never holds the
    whole matrix.
    """
    q_t, g_t = common_features(q, g, "q", "g")
    factor = 1.0
    if metric == "euclidean":
        q_t, g_t, factor = common_scale(q_t, g_t)
    dist = GalleryDistance(g_t, metric)
    d = dist.rows(dist.prepare_queries(q_t))
    # distances beyond the dtype's range come back infinite, never NaN
    return d if factor == 1.0 else d.mul_(factor**-2)
