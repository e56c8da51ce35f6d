"""The losses behind the zoo's recipes: identity, metric and regularizing terms.

Each takes the tensors a model returns in train mode and the identity labels of the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def cross_entropy_label_smooth(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """Cross entropy against ``(1 - eps) * one_hot + eps / C`` (Szegedy et al.; bag of tricks)."""
    return F.cross_entropy(logits.float(), targets, label_smoothing=epsilon)


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Euclidean (not squared) or cosine (1 - cos) distances between the rows of ``x`` and ``y``."""
    x, y = x.float(), y.float()
    if metric == "cosine":
        return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).t()
    if metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    d2 = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    return d2.clamp_min(1e-12).sqrt()


def _positive_negative_masks(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = targets.unsqueeze(0) == targets.unsqueeze(1)
    return same, ~same


def triplet_loss(
    feats: torch.Tensor,
    targets: torch.Tensor,
    margin: float | None = 0.3,
    *,
    normalize: bool = False,
    mining: str = "hard",
) -> torch.Tensor:
    """Batch triplet loss (Hermans et al., 2017).

    Args:
        margin: hinge margin; ``None`` or 0 uses the soft margin ``log(1 + exp(d_ap - d_an))``.
        normalize: L2-normalize the features first (fast-reid's NORM_FEAT).
        mining: ``"hard"`` (hardest positive and negative per anchor) or ``"weighted"``
            (softmax-weighted positives and negatives, the weighted regularized triplet of AGW,
            which always uses the soft margin).
    """
    if normalize:
        feats = F.normalize(feats, dim=1)
    dist = pairwise_distance(feats, feats)
    pos, neg = _positive_negative_masks(targets)
    if mining == "hard":
        d_ap = (dist * pos).max(dim=1).values
        d_an = dist.masked_fill(pos, float("inf")).min(dim=1).values
    elif mining == "weighted":
        d_ap, d_an = _weighted_pairs(dist, pos, neg)
        margin = None
    else:
        raise ValueError(f"mining must be 'hard' or 'weighted', got {mining!r}")
    valid = torch.isfinite(d_an)  # an anchor whose identity fills the batch has no negative
    d_ap, d_an = d_ap[valid], d_an[valid]
    if d_ap.numel() == 0:
        return feats.sum() * 0.0
    if not margin:
        return F.softplus(d_ap - d_an).mean()
    return F.relu(d_ap - d_an + margin).mean()


def _weighted_pairs(dist: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Far positives and close negatives get the largest weights (softmax over the batch).
    w_ap = torch.softmax(dist.masked_fill(~pos, float("-inf")), dim=1)
    w_an = torch.softmax((-dist).masked_fill(~neg, float("-inf")), dim=1)
    d_ap = (dist * w_ap.nan_to_num(0.0)).sum(1)
    d_an = (dist * w_an.nan_to_num(0.0)).sum(1)
    d_an = torch.where(neg.any(1), d_an, torch.full_like(d_an, float("inf")))
    return d_ap, d_an


class CenterLoss(nn.Module):
    """Center loss (Wen et al., ECCV 2016): squared distance of each feature to its class center.

    The centers are parameters; reid-strong-baseline updates them with their own SGD
    (learning rate 0.5) and scales their gradient by ``1 / weight``.
    """

    def __init__(self, num_classes: int, feat_dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim))

    def forward(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        centers = self.centers[targets]
        return (feats.float() - centers).pow(2).sum(1).clamp(1e-12, 1e12).mean()


def cosine_logits(feats: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between features and class weights: the input of margin softmaxes."""
    return F.linear(F.normalize(feats.float(), dim=1), F.normalize(weight.float(), dim=1))


def circle_logits(cos: torch.Tensor, targets: torch.Tensor, scale: float = 64.0, margin: float = 0.35) -> torch.Tensor:
    """Circle-softmax logits (Sun et al., CVPR 2020) from cosine similarities, as fast-reid's SBS uses.

    Positive similarities are pushed towards ``1 + m`` and negatives towards ``-m`` with
    self-paced weights; ``cross_entropy(circle_logits(...), targets)`` is the loss.
    """
    alpha_p = (1 + margin - cos.detach()).clamp_min(0.0)
    alpha_n = (cos.detach() + margin).clamp_min(0.0)
    delta_p, delta_n = 1 - margin, margin
    onehot = F.one_hot(targets, cos.shape[1]).bool()
    s_p = scale * alpha_p * (cos - delta_p)
    s_n = scale * alpha_n * (cos - delta_n)
    return torch.where(onehot, s_p, s_n)


def cosface_logits(cos: torch.Tensor, targets: torch.Tensor, scale: float = 30.0, margin: float = 0.25) -> torch.Tensor:
    """CosFace (large-margin cosine) logits: ``s * (cos - m)`` for the target class, ``s * cos`` otherwise."""
    onehot = F.one_hot(targets, cos.shape[1]).to(cos.dtype)
    return scale * (cos - margin * onehot)


def arcface_logits(cos: torch.Tensor, targets: torch.Tensor, scale: float = 30.0, margin: float = 0.5) -> torch.Tensor:
    """ArcFace logits: ``s * cos(theta + m)`` for the target class."""
    theta = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    target = torch.cos(theta + margin)
    onehot = F.one_hot(targets, cos.shape[1]).bool()
    return scale * torch.where(onehot, target, cos)


MARGIN_LOGITS = {"circle": circle_logits, "cosface": cosface_logits, "arcface": arcface_logits}

__all__ = [
    "MARGIN_LOGITS",
    "CenterLoss",
    "arcface_logits",
    "circle_logits",
    "cosface_logits",
    "cosine_logits",
    "cross_entropy_label_smooth",
    "pairwise_distance",
    "triplet_loss",
]
