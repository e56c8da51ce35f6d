"""Generalized-mean (GeM) pooling (Radenović et al., TPAMI 2018)."""

import torch
import torch.nn.functional as F
from torch import nn


class GeneralizedMeanPooling(nn.Module):
    """``(mean(x^p))^(1/p)`` over the spatial dims, output ``[B, C, 1, 1]``.

    With ``learnable=True`` the exponent is a parameter named ``p`` of shape ``[1]`` (fast-reid's
    GeM-P and AGW's ``global_pool``); otherwise it is a fixed float and not in the state dict.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = False) -> None:
        super().__init__()
        self.eps = eps
        self.learnable = learnable
        if learnable:
            self.p = nn.Parameter(torch.ones(1) * p)
        else:
            self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(min=self.eps).pow(self.p)
        return F.adaptive_avg_pool2d(x, 1).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        p = float(self.p.detach()) if isinstance(self.p, torch.Tensor) else self.p
        return f"p={p:.4f}, learnable={self.learnable}"
