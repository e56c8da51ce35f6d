"""fast-reid's own OSNet x1.0 (Zhou et al., ICCV 2019), plain or with instance norm (OSNet-IBN).

fast-reid keeps its own copy of the network; reid-torchreid has deep-person-reid's. The two
share the layout, but a family never imports another, so this one stays here, kept small.
The backbone ends at ``conv5`` (512 channels, output stride 16): no global pooling, no fc.
"""

from __future__ import annotations

import torch
from torch import nn

#: channels of the stem and of the three stages (x1.0 width); two OS blocks per stage
CHANNELS = (64, 256, 384, 512)
BLOCKS_PER_STAGE = 2


class ConvBN(nn.Module):
    """``conv`` -> ``bn`` (an affine InstanceNorm in the IBN stem) -> ReLU unless ``relu=False``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        *,
        relu: bool = True,
        instance_norm: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class LightConv3x3(nn.Module):
    """Pointwise conv (no norm between) then depthwise 3x3, one BN and ReLU after both."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """Sigmoid channel gate from the globally pooled input (reduction 16), applied to the input."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(w)


class OSBlock(nn.Module):
    """Omni-scale residual block: four streams of 1-4 light 3x3 convs fused by one shared gate.

    With ``instance_norm`` (OSNet-IBN's first stage) an affine InstanceNorm follows the residual sum.
    """

    def __init__(self, in_channels: int, out_channels: int, *, instance_norm: bool = False) -> None:
        super().__init__()
        mid = out_channels // 4
        self.conv1 = ConvBN(in_channels, mid)
        # upstream names: a lone LightConv3x3 for the shortest stream, Sequentials for the others
        self.conv2a = LightConv3x3(mid)
        self.conv2b = nn.Sequential(*(LightConv3x3(mid) for _ in range(2)))
        self.conv2c = nn.Sequential(*(LightConv3x3(mid) for _ in range(3)))
        self.conv2d = nn.Sequential(*(LightConv3x3(mid) for _ in range(4)))
        self.gate = ChannelGate(mid)
        self.conv3 = ConvBN(mid, out_channels, relu=False)
        self.downsample = ConvBN(in_channels, out_channels, relu=False) if in_channels != out_channels else None
        self.IN = nn.InstanceNorm2d(out_channels, affine=True) if instance_norm else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        fused = sum(self.gate(stream(h)) for stream in (self.conv2a, self.conv2b, self.conv2c, self.conv2d))
        out = self.conv3(fused) + (x if self.downsample is None else self.downsample(x))
        if self.IN is not None:
            out = self.IN(out)
        return self.relu(out)


def _stage(in_channels: int, out_channels: int, *, downsample: bool, instance_norm: bool = False) -> nn.Sequential:
    blocks: list[nn.Module] = [
        OSBlock(in_channels if i == 0 else out_channels, out_channels, instance_norm=instance_norm)
        for i in range(BLOCKS_PER_STAGE)
    ]
    if downsample:  # transition: 1x1 conv then 2x2 average pooling
        blocks.append(nn.Sequential(ConvBN(out_channels, out_channels), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*blocks)


class OSNet(nn.Module):
    """OSNet x1.0 trunk: stem (7x7 conv, max pool), three OS stages, 1x1 ``conv5``; 512 channels out.

    ``ibn=True`` gives fast-reid's OSNet-IBN: instance norm in the stem and after each block of
    the first stage.
    """

    def __init__(self, ibn: bool = False) -> None:
        super().__init__()
        c0, c1, c2, c3 = CHANNELS
        self.conv1 = ConvBN(3, c0, 7, stride=2, instance_norm=ibn)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _stage(c0, c1, downsample=True, instance_norm=ibn)
        self.conv3 = _stage(c1, c2, downsample=True)
        self.conv4 = _stage(c2, c3, downsample=False)
        self.conv5 = ConvBN(c3, c3)
        self.out_channels: int = c3
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized images ``[B, 3, H, W]`` -> feature map ``[B, 512, H/16, W/16]``."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))


def build_osnet_backbone(ibn: bool = False) -> OSNet:
    """fast-reid's OSNet x1.0 backbone (``DEPTH: x1_0``); ``ibn=True`` for OSNet-IBN x1.0."""
    return OSNet(ibn=ibn)
