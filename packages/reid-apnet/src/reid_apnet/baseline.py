"""AP-Net (Chen et al., "Person Re-identification via Attention Pyramid", TIP 2021).

A ResNet-50 (last stride 1) whose five stages (the stem and layers 1-4) are each followed by an
attention pyramid: at level 1 an SE layer over the whole map, at level 2 additionally a
split-attention module over 2 channel groups (with its own BatchNorm) before it. The head is a
BNNeck over global average pooling.
"""

from __future__ import annotations

import torch
from reid_core import ReIDModel
from reid_core.nn import ResNet, SELayer, bnneck, id_classifier
from torch import nn

from . import family
from .attention import SAMS, BN2d

APNET_PAPER = "https://arxiv.org/abs/2108.05340"

#: output channels of the stem and of layers 1-4 of a ResNet-50
STAGE_CHANNELS = (64, 256, 512, 1024, 2048)


class APNet(ReIDModel):
    """AP-Net's ``Baseline``: ResNet-50 with an attention pyramid after every stage.

    The upstream model keeps the trunk twice in its state dict: as ``base`` and, split into the
    five stages, as ``base_1`` .. ``base_5`` (the same modules, so the same tensors). Both names
    are kept for the checkpoints to load strictly; should a state dict hold different tensors
    under the two names, the ``base_*`` ones win (they load last), as upstream. ``base_1`` is
    conv1 - bn1 - maxpool: AP-Net's ResNet has no ReLU in the stem.

    Args:
        num_classes: identities of the training set (classifier rows).
        level: pyramid levels, 0 to 2; the published models use 2. (Upstream also sketches a
            level 3, with 3 channel groups, which cannot split 64 or 256 channels evenly.)
        last_stride: stride of layer4.
    """

    classifier_keys = ("classifier.*",)

    def __init__(self, num_classes: int, level: int = 2, last_stride: int = 1) -> None:
        super().__init__()
        if not 0 <= level <= 2:
            raise ValueError(f"AP-Net supports pyramid levels 0 to 2, got level={level}")
        self.level = level
        self.base = ResNet(50, last_stride=last_stride)
        base = self.base
        self.base_1 = nn.Sequential(base.conv1, base.bn1, base.maxpool)
        self.base_2 = nn.Sequential(base.layer1)
        self.base_3 = nn.Sequential(base.layer2)
        self.base_4 = nn.Sequential(base.layer3)
        self.base_5 = nn.Sequential(base.layer4)

        # Upstream attribute names: att{i} (SE, level 1) and att_s{i} + BN{i} (level 2), stage i = 1..5.
        for i, c in enumerate(STAGE_CHANNELS, start=1):
            if level >= 1:
                # reduction c // 8: every SE layer of AP-Net has a hidden width of 8
                setattr(self, f"att{i}", SELayer(c, reduction=c // 8))
            if level >= 2:
                setattr(self, f"att_s{i}", SAMS(c, c // level, radix=level))
                setattr(self, f"BN{i}", BN2d(c))

        self.gap = nn.AdaptiveAvgPool2d(1)
        self.in_planes = STAGE_CHANNELS[-1]
        self.bottleneck = bnneck(self.in_planes)
        self.classifier = id_classifier(self.in_planes, num_classes)

    def _pyramid(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Stage ``i``'s attention, finest level first, as upstream orders it."""
        if self.level >= 2:
            x = getattr(self, f"BN{i}")(getattr(self, f"att_s{i}")(x))
        if self.level >= 1:
            x = getattr(self, f"att{i}")(x)
        return x

    def forward_features(
        self, x: torch.Tensor, camids: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Eval: the BNNeck feature ``[B, 2048]``.

        Train: ``(cls_score [B, num_classes], global_feat [B, 2048])`` as upstream: the logits of
        the classifier after the BNNeck (label-smoothed cross entropy) and the pooled feature
        before it (the triplet loss).
        """
        for i in range(1, 6):
            x = self._pyramid(getattr(self, f"base_{i}")(x), i)
        global_feat = self.gap(x).flatten(1)
        feat = self.bottleneck(global_feat)
        if not self.training:
            return feat
        return self.classifier(feat), global_feat


@family.register(
    feature_dim=2048,
    classifier_key="classifier.weight",
    cam_layer="base.layer4",
    paper=APNET_PAPER,
    notes="Pyramid level 2 (SE plus 2-group split attention after every stage), as the seed trained it.",
)
def resnet50_ap(num_classes: int = 751, camera_num: int = 0, level: int = 2, **kwargs) -> APNet:
    """AP-Net: ResNet-50 with a 2-level attention pyramid after every stage and a BNNeck."""
    return APNet(num_classes, level=level, **kwargs)
