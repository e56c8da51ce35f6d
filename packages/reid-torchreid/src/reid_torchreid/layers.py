"""Convolution units shared by OSNet and OSNet-AIN, under deep-person-reid's parameter names.

The channel gate of the omni-scale blocks is :class:`reid_core.nn.SEModule` (``fc1``/``fc2``
1x1 convolutions with bias, reduction 16, sigmoid), which has the same layout.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNormAct(nn.Module):
    """Convolution without bias, a normalization named ``bn``, optionally a ReLU.

    deep-person-reid spells this unit as ``ConvLayer`` (the 7x7 stem), ``Conv1x1`` and
    ``Conv1x1Linear``; all keep the convolution in ``conv`` and the normalization in ``bn``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size; padding keeps the spatial size at stride 1.
        stride: convolution stride.
        norm: ``"bn"`` (batch norm), ``"in"`` (affine instance norm, the IBN/AIN stems) or
            ``None`` (no ``bn`` module at all: OSNet-AIN's instance-normalized blocks).
        relu: apply a ReLU at the end.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        *,
        norm: str | None = "bn",
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        if norm == "bn":
            self.bn: nn.Module | None = nn.BatchNorm2d(out_channels)
        elif norm == "in":
            self.bn = nn.InstanceNorm2d(out_channels, affine=True)
        elif norm is None:
            self.bn = None
        else:
            raise ValueError(f"norm must be 'bn', 'in' or None, got {norm!r}")
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class LightConv3x3(nn.Module):
    """OSNet's "lite" 3x3 convolution: a linear pointwise conv, then a depthwise 3x3, BN and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


def light_stream(channels: int, depth: int) -> nn.Sequential:
    """``depth`` lite 3x3 convolutions in a row: one stream of receptive field ``1 + 2 * depth``."""
    return nn.Sequential(*(LightConv3x3(channels, channels) for _ in range(depth)))


def init_weights(module: nn.Module) -> None:
    """deep-person-reid's initialization, which the from-scratch training recipes assume.

    Kaiming-normal (fan-out) convolutions, unit/zero affine normalizations, and small normal
    linear layers so that the classifier starts near uniform.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
