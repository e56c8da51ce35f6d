"""The registered ``*_dpr`` models: deep-person-reid's OSNet family and MLFN.

``osnet_x1_0_dpr``, ``osnet_ibn_x1_0_dpr``, ``osnet_ain_x1_0_dpr`` and ``mlfn_dpr`` have trained
weights (see ``catalog.yaml``); the narrower OSNets are the same code at other widths, for
training (``osnet_x0_25_dpr`` trains comfortably on a CPU).
"""

from __future__ import annotations

from typing import Any

from . import family
from .mlfn import MLFN
from .osnet import WIDTHS, OSNet
from .osnet_ain import OSNetAIN

OSNET_PAPER = "https://arxiv.org/abs/1905.00953"
OSNET_AIN_PAPER = "https://arxiv.org/abs/1910.06827"
MLFN_PAPER = "https://arxiv.org/abs/1803.09132"

_OSNET = dict(feature_dim=512, classifier_key="classifier.weight", cam_layer="conv5")


def _osnet(width: str, num_classes: int, **kwargs: Any) -> OSNet:
    return OSNet(num_classes, channels=WIDTHS[width], **kwargs)


def _osnet_ain(width: str, num_classes: int, **kwargs: Any) -> OSNetAIN:
    return OSNetAIN(num_classes, channels=WIDTHS[width], **kwargs)


@family.register(**_OSNET, paper=OSNET_PAPER)
def osnet_x1_0_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNet:
    """OSNet x1.0 (2.2M parameters), 512-d features."""
    return _osnet("x1_0", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_PAPER)
def osnet_x0_75_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNet:
    """OSNet x0.75, 512-d features. No trained weights in the zoo."""
    return _osnet("x0_75", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_PAPER)
def osnet_x0_5_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNet:
    """OSNet x0.5, 512-d features. No trained weights in the zoo."""
    return _osnet("x0_5", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_PAPER)
def osnet_x0_25_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNet:
    """OSNet x0.25, 512-d features: the smallest OSNet, fast enough to train on a CPU."""
    return _osnet("x0_25", num_classes, **kwargs)


@family.register(
    **_OSNET,
    paper=OSNET_PAPER,
    notes="IBN variant: instance norm in the stem and after each block of the first stage.",
)
def osnet_ibn_x1_0_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNet:
    """OSNet-IBN x1.0, 512-d features."""
    return _osnet("x1_0", num_classes, instance_norm=True, **kwargs)


@family.register(**_OSNET, paper=OSNET_AIN_PAPER)
def osnet_ain_x1_0_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNetAIN:
    """OSNet-AIN x1.0 (instance norm placed by architecture search), 512-d features."""
    return _osnet_ain("x1_0", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_AIN_PAPER)
def osnet_ain_x0_75_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNetAIN:
    """OSNet-AIN x0.75, 512-d features. No trained weights in the zoo."""
    return _osnet_ain("x0_75", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_AIN_PAPER)
def osnet_ain_x0_5_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNetAIN:
    """OSNet-AIN x0.5, 512-d features. No trained weights in the zoo."""
    return _osnet_ain("x0_5", num_classes, **kwargs)


@family.register(**_OSNET, paper=OSNET_AIN_PAPER)
def osnet_ain_x0_25_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> OSNetAIN:
    """OSNet-AIN x0.25, 512-d features. No trained weights in the zoo."""
    return _osnet_ain("x0_25", num_classes, **kwargs)


@family.register(feature_dim=1024, classifier_key="classifier.weight", cam_layer="feature.15", paper=MLFN_PAPER)
def mlfn_dpr(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> MLFN:
    """MLFN (Multi-Level Factorisation Net), 1024-d features."""
    return MLFN(num_classes, **kwargs)
