"""The registered ABD-Net models, in the configuration the seed trained them with."""

from __future__ import annotations

from typing import Any

from . import family
from .network import ABDNet

ABD_PAPER = "https://arxiv.org/abs/1908.01114"

#: ABD-Net's arguments behind the published weights (the seed's configuration)
SEED_CONFIG: dict[str, Any] = {
    "branches": ("global", "abd"),
    "dropout": 0.5,
    "global_dim": 1024,
    "abd_dim": 1024,
    "abd_np": 2,
    "abd_dan": ("cam", "pam"),
    "shallow_cam": True,
}

_NOTES = (
    "Train mode also returns the maps of the orthogonal-feature regularizer; the training losses "
    "add reid_abd.losses.of_penalty (beta 1e-6) and ow_penalty (beta 1e-3). Grad-CAM attaches to "
    "the last map shared by both branches."
)


def _build(trunk: str, num_classes: int, kwargs: dict[str, Any]) -> ABDNet:
    return ABDNet(num_classes, trunk=trunk, **{**SEED_CONFIG, **kwargs})


@family.register(
    feature_dim=3072,
    classifier_key="branches.0.1.classifier.weight",
    cam_layer="common_branch.backbone2",
    paper=ABD_PAPER,
    notes=_NOTES,
)
def resnet50_abd(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> ABDNet:
    """ABD-Net on ResNet-50: global and attentive (CAM + PAM, 2 stripes) branches, 3072-d features."""
    return _build("resnet50", num_classes, kwargs)


@family.register(
    feature_dim=3072,
    classifier_key="branches.0.1.classifier.weight",
    cam_layer="common_branch.backbone2",
    paper=ABD_PAPER,
    notes=_NOTES,
)
def densenet121_abd(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> ABDNet:
    """ABD-Net on DenseNet-121: global and attentive (CAM + PAM, 2 stripes) branches, 3072-d features."""
    return _build("densenet121", num_classes, kwargs)
