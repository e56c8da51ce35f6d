"""The non-local block of AGW (Ye et al., TPAMI 2021), as fast-reid and ReID-Survey define it."""

import torch
from torch import nn


class NonLocal(nn.Module):
    """Dot-product non-local block with a zero-initialized BN on its output branch.

    Parameter names (``g``, ``theta``, ``phi``, ``W.0``, ``W.1``) are those of both upstreams.
    ``inter_channels`` is 1 there (the upstream code computes ``reduc_ratio // reduc_ratio``);
    it is kept, since the published checkpoints have that shape.
    """

    def __init__(self, in_channels: int, inter_channels: int = 1) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.g = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        self.W = nn.Sequential(
            nn.Conv2d(inter_channels, in_channels, kernel_size=1),
            nn.BatchNorm2d(in_channels),
        )
        # Starting from zero makes the block an identity, so ImageNet weights stay meaningful.
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)
        self.theta = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        self.phi = nn.Conv2d(in_channels, inter_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g_x = self.g(x).flatten(2).transpose(1, 2)  # [B, N, C']
        theta_x = self.theta(x).flatten(2).transpose(1, 2)  # [B, N, C']
        phi_x = self.phi(x).flatten(2)  # [B, C', N]
        affinity = theta_x @ phi_x / phi_x.shape[-1]  # [B, N, N], normalized by N
        y = (affinity @ g_x).transpose(1, 2).reshape(b, self.inter_channels, h, w)
        return self.W(y) + x
