"""The registered ``*_lmbn`` models and their builders.

Build option shared by both (``create_model(name, ..., option=value)``):

* ``part_norm``: L2-normalize each of the seven 512-d parts of the eval output, as LightMBN's
  test engine does before ranking. Default ``False``: the raw stack, as upstream's model returns it.
"""

from __future__ import annotations

from typing import Any

from reid_core.model import IMAGENET_MEAN, IMAGENET_STD

from . import family
from .meta_arch import INPUT_SIZE, LMBN, build_lmbn_n, build_lmbn_r

PAPER = "https://arxiv.org/abs/2101.10774"

_LMBN: dict[str, Any] = dict(
    feature_dim=3584,
    input_size=INPUT_SIZE,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    classifier_key="reduction_0.classifier.weight",
    paper=PAPER,
    notes=(
        "Eval output: seven after-neck 512-d parts stacked as [B, 512, 7] and flattened channel-major "
        "(index c*7 + part). LightMBN's tester adds the mirrored image's features and L2-normalizes each "
        "part: extract with flip=True and build with part_norm=True to rank as it does."
    ),
)


@family.register(**_LMBN, cam_layer="global_branch")
def osnet_lmbn(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> LMBN:
    """LightMBN on OSNet x1.0 (upstream ``LMBN_n``): global, part and channel branches, 3584-d.

    The trunk is attribute ``backone`` (upstream's spelling, kept for the checkpoints' keys).

    Args:
        num_classes: identities of the seven classifiers (751 Market-1501, 702 DukeMTMC-reID,
            767 CUHK03).
        camera_num: ignored: no camera information.
        **kwargs: ``part_norm`` (see the module).
    """
    return build_lmbn_n(num_classes, **kwargs)


@family.register(**_LMBN, cam_layer="global_branch")
def resnet50_lmbn(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> LMBN:
    """LightMBN on torchvision's ResNet-50 (upstream ``LMBN_r``), 3584-d.

    Differs from ``osnet_lmbn`` as upstream does: 2048-channel branches reduced to 512, layer4
    without its stride in the part and channel branches, max pooling for the global and channel
    features, and the erased feature's reduction named ``reduction_drop``.

    Args:
        num_classes: identities of the seven classifiers.
        camera_num: ignored: no camera information.
        **kwargs: ``part_norm`` (see the module).
    """
    return build_lmbn_r(num_classes, **kwargs)
