"""The registered ``*_solider`` models and their builders.

Build options shared by the three builders (``create_model(name, ..., option=value)``):

* ``semantic_weight``: SOLIDER's semantic controller input, 0.2 by default as SOLIDER-REID's
  README and ``runtest.sh`` test (the configs' own default is 1.0). It changes the features, not
  the weights; a negative value builds no controller (and no ``semantic_embed_*`` keys).
* ``drop_path_rate``: stochastic depth of the trunk's last block (0.1, as the configs train).
* ``img_size``: (H, W) to build for; 384x128 as trained.
"""

from __future__ import annotations

from typing import Any

from . import family
from .meta_arch import INPUT_SIZE, SoliderReID

PAPER = "https://arxiv.org/abs/2303.17602"
MEAN = STD = (0.5, 0.5, 0.5)

_SOLIDER: dict[str, Any] = dict(
    input_size=INPUT_SIZE,
    mean=MEAN,
    std=STD,
    classifier_key="classifier.weight",
    cam_layer="base.norm3",
    paper=PAPER,
    notes=(
        "mmsegmentation-style Swin (windows padded, never shrunk; channel-major patch merging) with "
        "SOLIDER's semantic controller at s=0.2. Grad-CAM needs model.reshape_transform (tokens to a map)."
    ),
)


@family.register(feature_dim=768, **_SOLIDER)
def swin_tiny_solider(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> SoliderReID:
    """SOLIDER-REID on Swin-Tiny (embed 96, depths 2-2-6-2, heads 3-6-12-24): 768-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no camera information.
        **kwargs: ``semantic_weight``, ``drop_path_rate``, ``img_size`` (see the module).
    """
    return SoliderReID(num_classes, embed_dim=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), **kwargs)


@family.register(feature_dim=768, **_SOLIDER)
def swin_small_solider(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> SoliderReID:
    """SOLIDER-REID on Swin-Small (embed 96, depths 2-2-18-2, heads 3-6-12-24): 768-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no camera information.
        **kwargs: ``semantic_weight``, ``drop_path_rate``, ``img_size`` (see the module).
    """
    return SoliderReID(num_classes, embed_dim=96, depths=(2, 2, 18, 2), heads=(3, 6, 12, 24), **kwargs)


@family.register(feature_dim=1024, **_SOLIDER)
def swin_base_solider(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> SoliderReID:
    """SOLIDER-REID on Swin-Base (embed 128, depths 2-2-18-2, heads 4-8-16-32): 1024-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no camera information.
        **kwargs: ``semantic_weight``, ``drop_path_rate``, ``img_size`` (see the module).
    """
    return SoliderReID(num_classes, embed_dim=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), **kwargs)
