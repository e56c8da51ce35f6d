"""The ``*_bot`` models: reid-strong-baseline's backbones under one :class:`~reid_bot.baseline.Baseline`.

Only ``resnet50_bot``, ``resnet50_ibn_a_bot``, ``se_resnet50_bot``, ``se_resnext50_bot`` and
``senet154_bot`` have published weights; the other depths are the same code, for training.

Every builder takes ``num_classes`` (classifier rows), ``camera_num`` (accepted for the common
protocol and ignored: these models are not camera-aware) and ``last_stride`` (stride of layer4;
every published model uses 1, reid-strong-baseline's ``MODEL.LAST_STRIDE``). Any other keyword
is an error rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from reid_core.nn import ResNet, resnet_depths

from . import family
from .backbones import se_resnet, se_resnext, senet154
from .baseline import Baseline

Builder = Callable[..., Baseline]

PAPER = "https://arxiv.org/abs/1903.07071"
# The seed's normalization (ImageNet's), as recorded by the parity fixtures.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NO_STEM_RELU = (
    "reid-strong-baseline's resnet.py has no ReLU after the stem's batch norm; the weights were "
    "trained that way and it is kept."
)


def _register(name: str, feature_dim: int = 2048, notes: str = "") -> Callable[[Builder], Builder]:
    return family.register(
        name, feature_dim=feature_dim, classifier_key="classifier.weight", cam_layer="base.layer4",
        paper=PAPER, mean=MEAN, std=STD, notes=notes,
    )


def _resnet(depth: int, num_classes: int, last_stride: int) -> Baseline:
    base = ResNet(depth, last_stride=last_stride, stem_relu=False)
    return Baseline(base, base.out_channels, num_classes)


@_register("resnet18_bot", feature_dim=512, notes=NO_STEM_RELU)
def resnet18_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-18 (no published weights)."""
    return _resnet(18, num_classes, last_stride)


@_register("resnet34_bot", feature_dim=512, notes=NO_STEM_RELU)
def resnet34_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-34 (no published weights)."""
    return _resnet(34, num_classes, last_stride)


@_register("resnet50_bot", notes=NO_STEM_RELU)
def resnet50_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-50: last stride 1, GAP, BNNeck."""
    return _resnet(50, num_classes, last_stride)


@_register("resnet101_bot", notes=NO_STEM_RELU)
def resnet101_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-101 (no published weights)."""
    return _resnet(101, num_classes, last_stride)


@_register("resnet152_bot", notes=NO_STEM_RELU)
def resnet152_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-152 (no published weights)."""
    return _resnet(152, num_classes, last_stride)


@_register(
    "resnet50_ibn_a_bot",
    notes="The state dict carries the backbone's ImageNet classifier base.fc, which is never used.",
)
def resnet50_ibn_a_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on ResNet-50-IBN-a (IBN-a in layers 1-3)."""
    base = ResNet(50, last_stride=last_stride, stem_relu=True, ibn=True, fc_classes=1000)
    return Baseline(base, base.out_channels, num_classes)


def _se_resnet(depth: int, num_classes: int, last_stride: int) -> Baseline:
    base = se_resnet(resnet_depths[depth], last_stride=last_stride)
    return Baseline(base, base.out_channels, num_classes)


@_register("se_resnet50_bot")
def se_resnet50_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SE-ResNet-50."""
    return _se_resnet(50, num_classes, last_stride)


@_register("se_resnet101_bot")
def se_resnet101_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SE-ResNet-101 (no published weights)."""
    return _se_resnet(101, num_classes, last_stride)


@_register("se_resnet152_bot")
def se_resnet152_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SE-ResNet-152 (no published weights)."""
    return _se_resnet(152, num_classes, last_stride)


@_register("se_resnext50_bot")
def se_resnext50_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SE-ResNeXt-50 (32x4d)."""
    base = se_resnext(resnet_depths[50], last_stride=last_stride)
    return Baseline(base, base.out_channels, num_classes)


@_register("se_resnext101_bot")
def se_resnext101_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SE-ResNeXt-101 (32x4d; no published weights)."""
    base = se_resnext(resnet_depths[101], last_stride=last_stride)
    return Baseline(base, base.out_channels, num_classes)


@_register("senet154_bot")
def senet154_bot(num_classes: int = 751, camera_num: int = 0, last_stride: int = 1) -> Baseline:
    """BoT baseline on SENet-154."""
    base = senet154(last_stride=last_stride)
    return Baseline(base, base.out_channels, num_classes)
