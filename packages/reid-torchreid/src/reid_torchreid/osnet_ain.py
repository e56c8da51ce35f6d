"""OSNet-AIN (Zhou et al., TPAMI 2021): OSNet with instance norm placed by architecture search.

Differences from :mod:`reid_torchreid.osnet`, all visible in the state dict: the streams live in
a list ``conv2.<t>.layers``; some blocks normalize their residual branch with an instance norm
(``IN``, applied before the sum, and their ``conv3`` then has no BN); the stem uses instance
norm; and the transitions are separate modules ``pool2``/``pool3`` rather than the last entry
of a stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from reid_core.nn import SEModule
from torch import nn

from .layers import ConvNormAct, init_weights, light_stream
from .osnet import WIDTHS, OSNetBase, transition

#: Per stage, whether each of its two blocks normalizes its residual branch (the searched layout).
AIN_LAYOUT: tuple[tuple[bool, bool], ...] = ((True, True), (False, True), (True, False))


class LightConvStream(nn.Module):
    """``depth`` lite 3x3 convolutions, kept under ``layers`` as deep-person-reid names them."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.layers = light_stream(channels, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OSBlockAIN(nn.Module):
    """Omni-scale block with streams ``conv2.0`` .. ``conv2.{T-1}`` of depth 1 .. T.

    With ``instance_norm`` the residual branch ends in an affine instance norm ``IN`` instead of
    BN (upstream's ``OSBlockINin``): the identity path stays untouched.
    """

    def __init__(
        self, in_channels: int, out_channels: int, instance_norm: bool = False, reduction: int = 4, streams: int = 4
    ) -> None:
        super().__init__()
        mid = out_channels // reduction
        self.conv1 = ConvNormAct(in_channels, mid)
        self.conv2 = nn.ModuleList(LightConvStream(mid, depth) for depth in range(1, streams + 1))
        self.gate = SEModule(mid)
        self.conv3 = ConvNormAct(mid, out_channels, norm=None if instance_norm else "bn", relu=False)
        self.downsample = ConvNormAct(in_channels, out_channels, relu=False) if in_channels != out_channels else None
        self.IN = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bottleneck = self.conv1(x)
        residual = self.conv3(sum(self.gate(stream(bottleneck)) for stream in self.conv2))
        if self.IN is not None:
            residual = self.IN(residual)
        return F.relu(residual + (x if self.downsample is None else self.downsample(x)))


class OSNetAIN(OSNetBase):
    """OSNet-AIN: instance-norm stem, blocks laid out by :data:`AIN_LAYOUT`, 512-d embedding.

    Args:
        num_classes: identities of the training classifier.
        channels: (stem, conv2, conv3, conv4) channels, see :data:`reid_torchreid.osnet.WIDTHS`.
        layout: per stage, which blocks use instance norm (the number of entries is the depth).
    """

    def __init__(
        self,
        num_classes: int,
        channels: tuple[int, int, int, int] = WIDTHS["x1_0"],
        layout: tuple[tuple[bool, ...], ...] = AIN_LAYOUT,
    ) -> None:
        super().__init__()
        stem, c2, c3, c4 = channels
        self._build_stem(stem, instance_norm=True)
        self.conv2 = self._stage(stem, c2, layout[0])
        self.pool2 = transition(c2)
        self.conv3 = self._stage(c2, c3, layout[1])
        self.pool3 = transition(c3)
        self.conv4 = self._stage(c3, c4, layout[2])
        self._build_head(c4, num_classes)
        init_weights(self)

    @staticmethod
    def _stage(cin: int, cout: int, uses_in: tuple[bool, ...]) -> nn.Sequential:
        return nn.Sequential(*(OSBlockAIN(cin if i == 0 else cout, cout, flag) for i, flag in enumerate(uses_in)))

    def featuremaps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature maps ``[B, C, H/16, W/16]`` (output of ``conv5``)."""
        x = self.maxpool(self.conv1(x))
        x = self.pool3(self.conv3(self.pool2(self.conv2(x))))
        return self.conv5(self.conv4(x))
