"""AP-Net's second pyramid level: split-attend-merge-stack channel attention and its norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SAMS(nn.Module):
    """Split-attend-merge-stack: channel attention computed per group of channels.

    The map is split into ``radix`` equal channel groups; their sum is pooled and passed through a
    small bottleneck (``fc1`` - ``bn1`` - ReLU - ``fc2``), which yields one weight per channel of
    every group; a softmax across the groups makes the weights of matching channels compete, and
    each group is rescaled by its weights before the groups are stacked back.

    Args:
        in_channels: channels of the full map (sets the bottleneck width, as upstream).
        channels: channels of one group (``in_channels // radix``).
        radix: number of groups (the pyramid level).
        reduction_factor: bottleneck width is ``max(in_channels * radix // reduction_factor, 32)``.
    """

    def __init__(self, in_channels: int, channels: int, radix: int = 2, reduction_factor: int = 4) -> None:
        super().__init__()
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.channels = channels
        self.fc1 = nn.Conv2d(channels, inter_channels, 1)
        self.bn1 = nn.BatchNorm2d(inter_channels)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        groups = torch.split(x, self.channels, dim=1)
        pooled = F.adaptive_avg_pool2d(torch.stack(groups).sum(0), 1)
        weights = self.fc2(self.relu(self.bn1(self.fc1(pooled))))
        weights = weights.view(b, self.radix, self.channels).softmax(dim=1)
        return (torch.stack(groups, dim=1) * weights[..., None, None]).flatten(1, 2)


class BN2d(nn.Module):
    """A bias-frozen BatchNorm2d after each SAMS, under AP-Net's name ``bottleneck2``."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.bottleneck2 = nn.BatchNorm2d(planes)
        self.bottleneck2.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck2(x)
