"""How ABD-Net cuts a trunk into the shared part and one deep copy of the last stage per branch.

The common branch runs the stem and the first stage, the shallow CAM, then the middle stages;
each branch then owns a deep copy of the last stage (``branches.<i>.0.backbone``). Both trunks
keep a 16x8 map at 256x128 after the last stage (last stride 1).

Each part also says which of its convolutions the orthogonal-weight regularizer covers
(:meth:`regularized_convs`), see :func:`reid_abd.losses.ow_penalty`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from reid_core.nn import ResNet

from .attention import ShallowCAM


def _all_convs(*modules: nn.Module) -> list[nn.Conv2d]:
    return [m for module in modules for m in module.modules() if isinstance(m, nn.Conv2d)]


class CommonBranch(nn.Module):
    """``backbone1`` (stem and first stage), ``shallow_cam``, ``backbone2`` (middle stages).

    Returns the map for the branches and the shallow CAM's output (the ``intermediate`` map of
    the orthogonal-feature regularizer).
    """

    def __init__(self, backbone1: nn.Sequential, shallow_cam: ShallowCAM, backbone2: nn.Sequential,
                 upstream_ow_convs: list[nn.Conv2d]) -> None:
        super().__init__()
        self.backbone1 = backbone1
        self.shallow_cam = shallow_cam
        self.backbone2 = backbone2
        # Held outside the module tree: these convs are already registered above.
        self._upstream_ow_convs = tuple(upstream_ow_convs)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        intermediate = self.shallow_cam(self.backbone1(x))
        return self.backbone2(intermediate), intermediate

    def regularized_convs(self, scope: str = "upstream") -> list[nn.Conv2d]:
        """Convs under the orthogonal-weight regularizer: ``"upstream"``'s choice or ``"all"``."""
        return list(self._upstream_ow_convs) if scope == "upstream" else _all_convs(self.backbone1, self.backbone2)


class DeepBranch(nn.Module):
    """A branch's own copy of the trunk's last stage, under ``backbone``."""

    def __init__(self, backbone: nn.Module, out_dim: int, upstream_ow: bool) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(backbone)
        self.out_dim = out_dim
        self._upstream_ow = upstream_ow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def regularized_convs(self, scope: str = "upstream") -> list[nn.Conv2d]:
        """Convs under the orthogonal-weight regularizer: ``"upstream"``'s choice or ``"all"``."""
        if scope == "upstream" and not self._upstream_ow:
            return []
        return _all_convs(self.backbone)


class TrunkSplit:
    """A trunk cut for ABD-Net: build the common branch once and a deep branch per branch."""

    def __init__(self, common: CommonBranch, last_stage: nn.Module, out_dim: int, upstream_ow_deep: bool) -> None:
        self.common = common
        self.last_stage = last_stage
        self.out_dim = out_dim
        self.upstream_ow_deep = upstream_ow_deep

    def deep_branch(self) -> DeepBranch:
        """A fresh deep copy of the last stage."""
        return DeepBranch(self.last_stage, self.out_dim, self.upstream_ow_deep)


def resnet50_split(shallow_cam: bool = True) -> TrunkSplit:
    """ResNet-50, last stride 1: ``backbone1`` = conv1, bn1, relu, maxpool, layer1 (256 channels, where
    the shallow CAM sits); ``backbone2`` = layer2, layer3; deep branch = layer4 (2048 channels).

    Upstream's orthogonal-weight regularizer walks nested ``nn.Sequential`` containers only, so
    it never enters a residual block: of ResNet-50 it regularizes the stem convolution alone.
    """
    trunk = ResNet(50, last_stride=1)
    backbone1 = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool, trunk.layer1)
    backbone2 = nn.Sequential(trunk.layer2, trunk.layer3)
    common = CommonBranch(backbone1, ShallowCAM(256, shallow_cam), backbone2, [trunk.conv1])
    return TrunkSplit(common, trunk.layer4, trunk.out_channels, upstream_ow_deep=False)


def densenet121_split(shallow_cam: bool = True) -> TrunkSplit:
    """torchvision's DenseNet-121, with transition3 no longer pooling (last stride 1).

    ``backbone1`` = conv0 .. transition1 (128 channels, where the shallow CAM sits); ``backbone2``
    = denseblock2 .. transition3; deep branch = denseblock4, norm5 (1024 channels, no final ReLU,
    as upstream). Upstream's DenseNet layers are all ``nn.Sequential``, so its orthogonal-weight
    regularizer reaches every convolution of the trunk.
    """
    from torchvision.models import densenet121

    features = densenet121(weights=None).features
    features.transition3.pool = nn.Identity()  # upstream: AvgPool2d(kernel_size=1, stride=1)
    backbone1 = nn.Sequential(*features[:6])
    backbone2 = nn.Sequential(*features[6:-2])
    common = CommonBranch(backbone1, ShallowCAM(128, shallow_cam), backbone2, _all_convs(backbone1, backbone2))
    last_stage = nn.Sequential(*features[-2:])
    return TrunkSplit(common, last_stage, features.norm5.num_features, upstream_ow_deep=True)


TRUNKS = {"resnet50": resnet50_split, "densenet121": densenet121_split}
