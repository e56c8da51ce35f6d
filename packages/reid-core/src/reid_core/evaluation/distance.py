"""Pairwise distances between query and gallery features.

Two metrics, both "smaller is closer":

* ``"cosine"``: ``1 - <q, g>`` of L2-normalized features, in [0, 2].
* ``"euclidean"``: the **squared** euclidean distance ``|q - g|^2`` (as torchreid's), computed as
  ``|q|^2 + |g|^2 - 2 <q, g>`` and clamped at 0 against rounding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._inputs import as_features, check_metric
from .errors import EvaluationError

METRICS = ("cosine", "euclidean")


class GalleryDistance:
    """Distances from any block of query rows to one gallery, with the gallery prepared once.

    Args:
        gallery: float features ``[G, D]``.
        metric: ``"cosine"`` or ``"euclidean"`` (squared).
    """

    def __init__(self, gallery: torch.Tensor, metric: str = "cosine") -> None:
        self.metric = check_metric(metric)
        if metric == "cosine":
            self.gallery = F.normalize(gallery, dim=1)
            self.sq_norms = None
        else:
            self.gallery = gallery
            self.sq_norms = gallery.pow(2).sum(1)

    def prepare_queries(self, q: torch.Tensor) -> torch.Tensor:
        """Queries in the form :meth:`rows` expects (normalized for cosine)."""
        return F.normalize(q, dim=1) if self.metric == "cosine" else q

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
    dist = GalleryDistance(g_t, metric)
    return dist.rows(dist.prepare_queries(q_t))
