"""ABD-Net's attention modules: channel (CAM) and position (PAM) attention, after DANet.

Both are residual: ``x + gamma * attended(x)`` with ``gamma`` a learnable scalar that starts at 0,
so a freshly built module is the identity. In the ABD branch each one sits inside a
:class:`DANetHead` (3x3 conv - attention - 3x3 conv - 1x1 conv); the shallow CAM is a bare CAM
after the first stage of the trunk.
"""

from __future__ import annotations

import torch
from torch import nn


class CAM(nn.Module):
    """Channel attention: each channel becomes a mix of the channels it is least similar to.

    The affinity of channels ``i`` and ``j`` is the inner product of their maps; subtracting it
    from each row's maximum before the softmax (DANet's trick) favours dissimilar channels.
    Parameter: ``gamma`` (upstream ``CAM_Module``).
    """

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.channel_in = in_dim
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        energy = flat @ flat.transpose(1, 2)  # [B, C, C]
        energy = energy.amax(dim=-1, keepdim=True) - energy
        attended = (energy.softmax(dim=-1) @ flat).view(b, c, h, w)
        return self.gamma * attended + x


class PAM(nn.Module):
    """Position attention: each location becomes a mix of all locations, weighted by affinity.

    Queries and keys are 1x1 projections to ``in_dim // 8`` channels, values keep ``in_dim``
    (SAGAN's self-attention). Parameters: ``query_conv``, ``key_conv``, ``value_conv``, ``gamma``
    (upstream ``PAM_Module``).
    """

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.channel_in = in_dim
        self.query_conv = nn.Conv2d(in_dim, in_dim // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(in_dim, in_dim // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.query_conv(x).flatten(2).transpose(1, 2)  # [B, N, C/8]
        key = self.key_conv(x).flatten(2)  # [B, C/8, N]
        attention = (query @ key).softmax(dim=-1)  # [B, N, N]: row n = weights of location n
        value = self.value_conv(x).flatten(2)  # [B, C, N]
        attended = (value @ attention.transpose(1, 2)).view(b, c, h, w)
        return self.gamma * attended + x


class Identity(nn.Module):
    """No attention: the ``before`` head of the ABD branch (same head, nothing in the middle)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


ATTENTIONS: dict[str, type[nn.Module]] = {"cam": CAM, "pam": PAM, "identity": Identity}


class DANetHead(nn.Module):
    """An attention module between two 3x3 conv-BN-ReLU layers, then a 1x1 projection.

    Parameters: ``conv5c.0/1`` (3x3 conv halving the channels, BN), ``attention_module``,
    ``conv52.0/1`` (3x3 conv, BN) and ``conv7.1`` (1x1 conv with bias, after a 2-D dropout).
    """

    def __init__(self, in_channels: int, out_channels: int, attention: str, dim_collapsion: int = 2) -> None:
        super().__init__()
        inter = in_channels // dim_collapsion
        self.conv5c = nn.Sequential(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU()
        )
        self.attention_module = ATTENTIONS[attention](inter)
        self.conv52 = nn.Sequential(
            nn.Conv2d(inter, inter, 3, padding=1, bias=False), nn.BatchNorm2d(inter), nn.ReLU()
        )
        self.conv7 = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(inter, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv7(self.conv52(self.attention_module(self.conv5c(x))))


class ShallowCAM(nn.Module):
    """The CAM after the trunk's first stage (``_cam_module``), or nothing when disabled."""

    def __init__(self, in_dim: int, enabled: bool = True) -> None:
        super().__init__()
        self._cam_module = CAM(in_dim) if enabled else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._cam_module is None else self._cam_module(x)
