"""OSNet (Zhou et al., ICCV 2019) and its IBN variant, as deep-person-reid defines them.

An omni-scale block runs four streams of 1 to 4 lite 3x3 convolutions on a bottleneck, weighs
each stream with one shared channel gate and sums them. After the backbone, every OSNet width
pools globally and projects to a 512-d embedding (``fc``: linear, BN, ReLU), which is what
deep-person-reid returns at test time; the identity ``classifier`` sits on top of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from reid_core import ReIDModel
from reid_core.nn import SEModule
from torch import nn

from .layers import ConvNormAct, LightConv3x3, init_weights, light_stream

#: Channels of (stem, conv2, conv3, conv4) per width multiplier, as deep-person-reid sets them.
WIDTHS: dict[str, tuple[int, int, int, int]] = {
    "x1_0": (64, 256, 384, 512),
    "x0_75": (48, 192, 288, 384),
    "x0_5": (32, 128, 192, 256),
    "x0_25": (16, 64, 96, 128),
}


class OSNetBase(ReIDModel):
    """What all OSNets share: the 7x7 stem, the last 1x1 conv, the embedding and classifier.

    Subclasses build ``conv2``..``conv4`` (and any pooling between them) and implement
    :meth:`featuremaps`.

    Train mode returns ``(logits, features)``: the identity logits ``[B, num_classes]`` for the
    softmax loss and the 512-d embedding ``[B, 512]`` (after ``fc``) for a metric loss, which is
    deep-person-reid's ``loss="triplet"`` output. Eval mode returns the embedding.
    """

    classifier_keys = ("classifier.*",)

    def _build_stem(self, channels: int, instance_norm: bool) -> None:
        self.conv1 = ConvNormAct(3, channels, 7, stride=2, norm="in" if instance_norm else "bn")
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

    def _build_head(self, channels: int, num_classes: int, embed_dim: int = 512) -> None:
        self.conv5 = ConvNormAct(channels, channels)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, embed_dim), nn.BatchNorm1d(embed_dim), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(embed_dim, num_classes)

    def featuremaps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature maps ``[B, C, H/16, W/16]`` (output of ``conv5``)."""
        raise NotImplementedError

    def forward_features(
        self, x: torch.Tensor, camids: torch.Tensor | None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Embedding ``[B, 512]`` in eval mode, ``(logits, embedding)`` in train mode."""
        v = self.fc(self.global_avgpool(self.featuremaps(x)).flatten(1))
        if not self.training:
            return v
        return self.classifier(v), v


class OSBlock(nn.Module):
    """Omni-scale residual block with streams ``conv2a`` .. ``conv2d`` of depth 1 to 4.

    With ``instance_norm`` an affine instance norm (``IN``) follows the residual sum, before the
    final ReLU: the IBN-style block used in the first stage of ``osnet_ibn``.
    """

    def __init__(self, in_channels: int, out_channels: int, instance_norm: bool = False, reduction: int = 4) -> None:
        super().__init__()
        mid = out_channels // reduction
        self.conv1 = ConvNormAct(in_channels, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = light_stream(mid, 2)
        self.conv2c = light_stream(mid, 3)
        self.conv2d = light_stream(mid, 4)
        self.gate = SEModule(mid)
        self.conv3 = ConvNormAct(mid, out_channels, relu=False)
        self.downsample = ConvNormAct(in_channels, out_channels, relu=False) if in_channels != out_channels else None
        self.IN = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bottleneck = self.conv1(x)
        mixed = sum(self.gate(stream(bottleneck)) for stream in (self.conv2a, self.conv2b, self.conv2c, self.conv2d))
        out = self.conv3(mixed) + (x if self.downsample is None else self.downsample(x))
        if self.IN is not None:
            out = self.IN(out)
        return F.relu(out)


def transition(channels: int) -> nn.Sequential:
    """1x1 conv then 2x2 average pooling: halves the resolution between stages."""
    return nn.Sequential(ConvNormAct(channels, channels), nn.AvgPool2d(2, stride=2))


class OSNet(OSNetBase):
    """OSNet: three stages of two omni-scale blocks; stages 2 and 3 end with a transition.

    Args:
        num_classes: identities of the training classifier.
        channels: (stem, conv2, conv3, conv4) channels, see :data:`WIDTHS`.
        instance_norm: the IBN variant: instance norm in the stem and after each block of ``conv2``.
        blocks_per_stage: omni-scale blocks in each stage.
    """

    def __init__(
        self,
        num_classes: int,
        channels: tuple[int, int, int, int] = WIDTHS["x1_0"],
        instance_norm: bool = False,
        blocks_per_stage: tuple[int, int, int] = (2, 2, 2),
    ) -> None:
        super().__init__()
        stem, c2, c3, c4 = channels
        self._build_stem(stem, instance_norm)
        self.conv2 = self._stage(stem, c2, blocks_per_stage[0], instance_norm, downsample=True)
        self.conv3 = self._stage(c2, c3, blocks_per_stage[1], False, downsample=True)
        self.conv4 = self._stage(c3, c4, blocks_per_stage[2], False, downsample=False)
        self._build_head(c4, num_classes)
        init_weights(self)

    @staticmethod
    def _stage(cin: int, cout: int, depth: int, instance_norm: bool, downsample: bool) -> nn.Sequential:
        blocks: list[nn.Module] = [OSBlock(cin if i == 0 else cout, cout, instance_norm) for i in range(depth)]
        if downsample:
            blocks.append(transition(cout))
        return nn.Sequential(*blocks)

    def featuremaps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature maps ``[B, C, H/16, W/16]`` (output of ``conv5``)."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))
