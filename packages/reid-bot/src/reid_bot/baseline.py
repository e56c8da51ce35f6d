"""reid-strong-baseline's ``Baseline`` (Luo et al., "Bag of Tricks and A Strong Baseline for Deep
Person Re-identification", CVPRW 2019) with the BNNeck, as the seed project configured it.

A backbone (``base``) with last stride 1, global average pooling, and the BNNeck: a BatchNorm1d
(``bottleneck``) whose shift is frozen, between the pooled feature and a bias-free ``classifier``.
The seed builds every model with ``neck="bnneck"`` and ``neck_feat="after"``, so the eval feature
is the one after the BNNeck.
"""

from __future__ import annotations

import torch
from reid_core import ReIDModel
from reid_core.nn import bnneck, id_classifier
from torch import nn


class Baseline(ReIDModel):
    """Backbone, global average pooling and BNNeck, under the upstream names.

    Args:
        base: the backbone; maps images to a ``[B, in_planes, h, w]`` feature map.
        in_planes: channels of that map (2048, or 512 for ResNet-18/34).
        num_classes: identities of the training set (classifier rows).
    """

    classifier_keys = ("classifier.*",)

    def __init__(self, base: nn.Module, in_planes: int, num_classes: int) -> None:
        super().__init__()
        self.base = base
        self.in_planes = in_planes
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.bottleneck = bnneck(in_planes)
        self.classifier = id_classifier(in_planes, num_classes)

    def forward_features(
        self, x: torch.Tensor, camids: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Eval: the feature after the BNNeck, ``[B, in_planes]``.

        Train: ``(cls_score, global_feat)``, as upstream: ``cls_score`` ``[B, num_classes]`` is the
        classifier applied after the BNNeck (for the label-smoothed cross entropy) and
        ``global_feat`` ``[B, in_planes]`` the pooled feature before it (for the triplet loss).
        ``camids`` are ignored.
        """
        global_feat = self.gap(self.base(x)).flatten(1)
        feat = self.bottleneck(global_feat)
        if self.training:
            return self.classifier(feat), global_feat
        return feat
