"""IBN-a normalization (Pan et al., ECCV 2018), as fast-reid and reid-strong-baseline name it."""

import torch
from torch import nn


class IBN(nn.Module):
    """Instance norm on the first ``ratio`` of the channels, batch norm on the rest.

    Parameters are ``IN.*`` and ``BN.*``, the names of the IBN-Net checkpoints.
    """

    def __init__(self, planes: int, ratio: float = 0.5) -> None:
        super().__init__()
        self.half = int(planes * ratio)
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, rest = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat((self.IN(first.contiguous()), self.BN(rest.contiguous())), dim=1)
