"""The OSNet x1.0 pieces LightMBN's ``lmbn_n`` is cut from (omni-scale blocks, no instance norm).

Module and attribute names follow deep-person-reid's ``osnet.py``, which LightMBN vendors, so
that the checkpoints' keys (``conv1.conv``, ``conv2a.conv2``, ``gate.fc1`` ...) land here.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvLayer(nn.Module):
    """Convolution (no bias), batch norm, ReLU: OSNet's stem."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1(nn.Module):
    """1x1 convolution, batch norm and, unless ``linear``, ReLU (upstream's Conv1x1 / Conv1x1Linear)."""

    def __init__(self, in_ch: int, out_ch: int, *, linear: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = None if linear else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.relu is None else self.relu(x)


class LightConv3x3(nn.Module):
    """Pointwise then depthwise 3x3 convolution, batch norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """Aggregation gate shared by the four streams of an OSBlock: channel weights from a squeeze."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.fc2(w))


class OSBlock(nn.Module):
    """Omni-scale residual block: four streams of 1 to 4 light 3x3 convs, one shared gate."""

    def __init__(self, in_ch: int, out_ch: int, bottleneck_reduction: int = 4) -> None:
        super().__init__()
        mid = out_ch // bottleneck_reduction
        self.conv1 = Conv1x1(in_ch, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(2)))
        self.conv2c = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(3)))
        self.conv2d = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(4)))
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1(mid, out_ch, linear=True)
        self.downsample = Conv1x1(in_ch, out_ch, linear=True) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        streams = (self.conv2a(x1), self.conv2b(x1), self.conv2c(x1), self.conv2d(x1))
        x2 = sum(self.gate(s) for s in streams)
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv3(x2) + identity)


def transition(channels: int) -> nn.Sequential:
    """OSNet's stage transition: 1x1 conv then 2x2 average pooling (halves H and W)."""
    return nn.Sequential(Conv1x1(channels, channels), nn.AvgPool2d(2, stride=2))


def stem_and_stage2() -> list[nn.Module]:
    """``conv1`` (7x7/2), max-pool, ``conv2`` (two OSBlocks 64->256, transition): 1/8 resolution."""
    return [
        ConvLayer(3, 64, 7, stride=2, padding=3),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Sequential(OSBlock(64, 256), OSBlock(256, 256), transition(256)),
    ]
