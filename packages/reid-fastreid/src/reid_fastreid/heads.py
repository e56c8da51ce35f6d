"""fast-reid's ``EmbeddingHead``: pooling, an optional 1x1 reduction, the BNNeck and the classifier.

Parameter names are fast-reid's: ``pool_layer.p`` (learnable GeM only), ``bottleneck.0`` (the
BNNeck, or the reduction conv when there is one, with the BNNeck at ``bottleneck.1``) and
``weight`` (the classifier, ``[num_classes, D]``, no bias).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from reid_core.nn import GeneralizedMeanPooling

Pooling = Literal["avg", "gem", "gemp", "identity"]
NeckFeat = Literal["before", "after"]
Classifier = Literal["linear", "circle"]


def build_pooling(kind: Pooling) -> nn.Module:
    """``avg``: global average; ``gem``: GeM with p fixed at 3 (AGW); ``gemp``: GeM with learnable p (SBS).

    ``identity``: none, for a head fed an already pooled ``[B, C, 1, 1]`` map (the v0.1.1 MGN).
    """
    if kind == "avg":
        return nn.AdaptiveAvgPool2d(1)
    if kind == "gem":
        return GeneralizedMeanPooling(p=3.0, learnable=False)
    if kind == "gemp":
        return GeneralizedMeanPooling(p=3.0, learnable=True)
    if kind == "identity":
        return nn.Identity()
    raise ValueError(f"unknown pooling {kind!r}; expected 'avg', 'gem', 'gemp' or 'identity'")


def circle_margin_logits(logits: torch.Tensor, targets: torch.Tensor, scale: float, margin: float) -> torch.Tensor:
    """Circle-loss logits (Sun et al., CVPR 2020) from the scaled cosine logits of a circle head.

    ``logits`` are ``scale * cos`` as the head returns them in train mode; each row's target
    class gets the positive re-weighting and margin, the others the negative ones.
    """
    cos = logits.detach() / scale
    alpha_p = (1 + margin - cos).clamp_min(0)
    alpha_n = (cos + margin).clamp_min(0)
    raw = logits / scale
    positive = alpha_p * (raw - (1 - margin))
    negative = alpha_n * (raw - margin)
    one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return scale * (one_hot * positive + (1 - one_hot) * negative)


class EmbeddingHead(nn.Module):
    """Pool the backbone map, reduce it (optionally), normalize it with a BNNeck, classify it.

    Args:
        feat_dim: channels of the backbone map.
        num_classes: classifier rows (training identities).
        pooling: ``avg``, ``gem`` (fixed p=3), ``gemp`` (learnable p) or ``identity``.
        embedding_dim: if > 0, a bias-free 1x1 convolution to this size before the BNNeck (MGN: 256).
        neck_feat: which feature the metric losses see in training: ``before`` the neck (the pooled
            backbone feature) or ``after`` it (the BNNeck output).
        classifier: ``linear`` (logits ``f @ W.T``) or ``circle`` (``scale * cos(f, W)``).
        scale: logit scale of the circle classifier.
        margin: circle-loss margin (see :func:`circle_margin_logits`).
    """

    def __init__(self, feat_dim: int, num_classes: int, *, pooling: Pooling = "avg", embedding_dim: int = 0,
                 neck_feat: NeckFeat = "before", classifier: Classifier = "linear",
                 scale: float = 64.0, margin: float = 0.35) -> None:
        super().__init__()
        if neck_feat not in ("before", "after"):
            raise ValueError(f"neck_feat must be 'before' or 'after', got {neck_feat!r}")
        if classifier not in ("linear", "circle"):
            raise ValueError(f"classifier must be 'linear' or 'circle', got {classifier!r}")
        self.pool_layer = build_pooling(pooling)
        self.neck_feat = neck_feat
        self.classifier = classifier
        self.scale = scale if classifier == "circle" else 1.0
        self.margin = margin
        neck: list[nn.Module] = []
        if embedding_dim > 0:
            neck.append(nn.Conv2d(feat_dim, embedding_dim, 1, bias=False))
            feat_dim = embedding_dim
        bnneck = nn.BatchNorm2d(feat_dim)
        bnneck.bias.requires_grad_(False)  # BNNeck: scale only, the shift stays at zero
        neck.append(bnneck)
        self.bottleneck = nn.Sequential(*neck)
        self.embedding_dim = feat_dim
        self.weight = nn.Parameter(torch.empty(num_classes, feat_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """fast-reid's initialization: Kaiming for the reduction, unit BNNeck, small classifier."""
        for m in self.bottleneck:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, features: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Eval: the BNNeck output ``[B, D]``. Train: ``{"logits": [B, num_classes], "features": [B, D']}``.

        Train logits carry no target-dependent margin (the forward pass has no labels): ``f @ W.T``
        for the linear classifier, ``scale * cos`` for the circle one, which
        :func:`circle_margin_logits` turns into circle-loss logits. ``features`` are, as
        ``neck_feat`` says, the pooled backbone feature (before any reduction, as in fast-reid)
        or the BNNeck output.
        """
        pooled = self.pool_layer(features)
        neck = self.bottleneck(pooled)[..., 0, 0]
        if not self.training:
            return neck
        if self.classifier == "linear":
            logits = F.linear(neck, self.weight)
        else:
            logits = self.scale * F.linear(F.normalize(neck), F.normalize(self.weight))
        feat = pooled[..., 0, 0] if self.neck_feat == "before" else neck
        return {"logits": logits, "features": feat}
