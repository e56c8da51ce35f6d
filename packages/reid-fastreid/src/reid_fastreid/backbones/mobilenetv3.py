"""fast-reid's MobileNetV3-Large backbone.

fast-reid takes torchvision's MobileNetV3 trunk (``features``: the stem, fifteen inverted
residual blocks and the 960-channel 1x1 conv) and replaces the ImageNet classifier by one
more 1x1 conv + BN + ReLU6 to 1280 channels (``conv``), kept as a feature map.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large


class MobileNetV3Backbone(nn.Module):
    """MobileNetV3-Large as fast-reid builds it: ``features`` then ``conv`` (960 -> 1280 channels).

    The output stride is 32: a 256 x 128 image gives an 8 x 4 map.
    """

    def __init__(self) -> None:
        super().__init__()
        # fast-reid's BatchNorm uses PyTorch's default eps (1e-5), not torchvision's 1e-3
        # for this network; the checkpoints were trained with it.
        self.features = mobilenet_v3_large(weights=None, norm_layer=nn.BatchNorm2d).features
        in_channels = self.features[-1][0].out_channels
        self.out_channels: int = 1280
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, self.out_channels, 1, bias=False),
            nn.BatchNorm2d(self.out_channels),
            nn.ReLU6(inplace=True),
        )
        # the same init torchvision gives the trunk's convs
        nn.init.kaiming_normal_(self.conv[0].weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized images ``[B, 3, H, W]`` -> feature map ``[B, 1280, H/32, W/32]``."""
        return self.conv(self.features(x))


def build_mobilenetv3_backbone() -> MobileNetV3Backbone:
    """fast-reid's MobileNetV3-Large backbone (``DEPTH: Large``), randomly initialised."""
    return MobileNetV3Backbone()
