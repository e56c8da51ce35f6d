"""A tiny family for testing reid_core without any real family package."""

import pytest
import torch
from torch import nn

import reid_core
from reid_core.registry import REGISTRY


class TinyNet(reid_core.ReIDModel):
    """conv -> GAP -> BN neck, with a classifier for training."""

    classifier_keys = ("classifier.*",)
    unused_checkpoint_keys = ("pixel_mean", "pixel_std")

    def __init__(self, num_classes: int = 5, dim: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3, padding=1)
        self.bottleneck = nn.BatchNorm1d(dim)
        self.classifier = nn.Linear(dim, num_classes, bias=False)

    def forward_features(self, x, camids):
        feat = self.conv(x).mean((2, 3))
        neck = self.bottleneck(feat)
        return (self.classifier(neck), feat) if self.training else neck


def make_tiny_family(catalog=None, name="tiny", package="reid-tiny"):
    fam = reid_core.Family(name, package=package, module="tests.reid_core", catalog=catalog)

    @fam.register(feature_dim=8, classifier_key="classifier.weight", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    def tiny_net(num_classes: int = 5, camera_num: int = 0):
        return TinyNet(num_classes)

    return fam


@pytest.fixture
def registry():
    """The global registry, emptied of entry-point discovery side effects after the test."""
    REGISTRY.reset()
    yield REGISTRY
    REGISTRY.reset()


@pytest.fixture
def tiny_family(registry):
    fam = make_tiny_family()
    registry.add_family(fam)
    return fam


@pytest.fixture
def tiny_state():
    torch.manual_seed(0)
    return TinyNet(num_classes=5).state_dict()
