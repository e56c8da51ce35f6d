"""The registered TransReID models and their builders.

Build options shared by the three builders (``create_model(name, ..., option=value)``):

* ``img_size``: (H, W) to build for. Checkpoints made at 256x128 get their position
  embeddings interpolated (bilinear) when they are loaded. Default (256, 128).
* ``with_classifier``: add the identity classifier(s) for training. The published checkpoints
  carry none, so the default builds without; load them into a classifier model with
  ``load_weights(..., drop_classifier=True)``.
* ``depth``: transformer blocks (12 for ViT-B; fewer only for quick tests).
* ``drop_path_rate``: stochastic depth of the last block (0.1, as TransReID trains).

Grad-CAM: ``cam_layer`` outputs tokens; pass ``reshape_transform=model.reshape_transform`` (or
:func:`reid_transreid.reshape_tokens` with ``model.patch_grid``) to lay them out as a map.
"""

from __future__ import annotations

from typing import Any

from . import family
from .meta_arch import TransReID, TransReIDJPM

PAPER = "https://arxiv.org/abs/2102.04378"
#: TransReID's configs normalize with 0.5/0.5, and the seed evaluates its weights so.
MEAN = STD = (0.5, 0.5, 0.5)
#: Cameras of Market-1501, whose 751 identities are create_model's default num_classes.
DEFAULT_CAMERAS = 6

_JPM_REGISTRATION: dict[str, Any] = dict(
    feature_dim=3840,
    mean=MEAN,
    std=STD,
    camera_aware=True,
    camera_key="base.sie_embed",
    classifier_key="classifier.weight",
    cam_layer="base.blocks.10",
    paper=PAPER,
    notes=(
        "Camera-aware (SIE): pass zero-based camids; camids=None adds the mean camera embedding. "
        "Grad-CAM needs model.reshape_transform (tokens to a map)."
    ),
)


@family.register(
    feature_dim=768,
    mean=MEAN,
    std=STD,
    classifier_key="classifier.weight",
    cam_layer="base.blocks.11.norm1",
    paper=PAPER,
    notes="No camera embedding: camids are ignored. Grad-CAM needs model.reshape_transform (tokens to a map).",
)
def vit_base_transreid(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReID:
    """ViT-B/16 baseline of TransReID (patch stride 16, BNNeck): 768-d class-token features.

    Args:
        num_classes: identities of the classifier (built only with ``with_classifier=True``).
        camera_num: ignored: this model has no side information embedding.
        **kwargs: ``img_size``, ``with_classifier``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return TransReID(num_classes, **kwargs)


@family.register(**_JPM_REGISTRATION)
def vit_transreid(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReIDJPM:
    """TransReID from ViT-B/16 ImageNet weights: stride-12 patches, camera SIE, JPM; 3840-d.

    Args:
        num_classes: identities of the classifiers (built only with ``with_classifier=True``).
        camera_num: rows of the camera embedding: 6 (Market-1501), 8 (DukeMTMC-reID),
            15 (MSMT17). 0, ``create_model``'s default, builds Market-1501's 6.
        **kwargs: ``img_size``, ``with_classifier``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return TransReIDJPM(num_classes, camera_num or DEFAULT_CAMERAS, **kwargs)


@family.register(**_JPM_REGISTRATION)
def deit_transreid(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReIDJPM:
    """TransReID from DeiT-B weights: the architecture of ``vit_transreid``, other weights; 3840-d.

    Args:
        num_classes: identities of the classifiers (built only with ``with_classifier=True``).
        camera_num: rows of the camera embedding: 6 (Market-1501), 8 (DukeMTMC-reID),
            15 (MSMT17). 0, ``create_model``'s default, builds Market-1501's 6.
        **kwargs: ``img_size``, ``with_classifier``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return TransReIDJPM(num_classes, camera_num or DEFAULT_CAMERAS, **kwargs)
