"""The registered PASS-reID models and their builders.

Build options shared by the builders (``create_model(name, ..., option=value)``):

* ``img_size``: (H, W) to build for (default: the size the published weights were trained at).
  Checkpoints made at PASS's other size get their position embeddings interpolated (bilinear)
  when they are loaded.
* ``backbone_weights``: ``"lup"`` fills the trunk with the LUPerson part-aware self-supervised
  weights the upstream recipe starts from (catalogued, fetched through the weights cache), or a
  path to such a file. Default: random initialization.
* ``depth``: transformer blocks (12; fewer only for quick tests).
* ``drop_path_rate``: stochastic depth of the last block (0.1, as PASS trains).

Grad-CAM: ``cam_layer`` outputs tokens; pass ``reshape_transform=model.reshape_transform``.
"""

from __future__ import annotations

import os
from typing import Any

from . import family
from .meta_arch import PASS
from .pretrained import load_backbone_weights

PAPER = "https://arxiv.org/abs/2203.03931"
#: PASS's configs normalize with 0.5/0.5 (INPUT.PIXEL_MEAN / PIXEL_STD).
MEAN = STD = (0.5, 0.5, 0.5)
NOTES = (
    "Features: the class token, then the mean of the three part tokens (2x the width). "
    "No camera embedding: camids are ignored. Grad-CAM needs model.reshape_transform (tokens to a map)."
)

_SIZES = {"small": (384, 6), "base": (768, 12)}


def _build(
    name: str,
    arch: str,
    default_size: tuple[int, int],
    num_classes: int,
    *,
    img_size: tuple[int, int] | None = None,
    depth: int = 12,
    drop_path_rate: float = 0.1,
    backbone_weights: str | os.PathLike | None = None,
) -> PASS:
    embed_dim, heads = _SIZES[arch]
    model = PASS(
        num_classes, embed_dim=embed_dim, depth=depth, num_heads=heads,
        img_size=tuple(img_size or default_size), drop_path_rate=drop_path_rate,
    )
    if backbone_weights is not None:
        load_backbone_weights(model, backbone_weights, name)
    return model


def _register(feature_dim: int, input_size: tuple[int, int] = (256, 128)) -> Any:
    return family.register(
        feature_dim=feature_dim,
        input_size=input_size,
        mean=MEAN,
        std=STD,
        classifier_key="classifier.weight",
        cam_layer="base.blocks.11.norm1",
        paper=PAPER,
        notes=NOTES,
    )


@_register(feature_dim=768)
def vit_small_pass(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> PASS:
    """ViT-S/16 with three part tokens, at 256x128: 768-d features (class token, mean part token).

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_small_pass", "small", (256, 128), num_classes, **kwargs)


@_register(feature_dim=768, input_size=(384, 128))
def vit_small_384_pass(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> PASS:
    """The architecture of ``vit_small_pass``, trained at 384x128 (192 patches): 768-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_small_384_pass", "small", (384, 128), num_classes, **kwargs)


@_register(feature_dim=1536)
def vit_base_pass(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> PASS:
    """ViT-B/16 with three part tokens, at 256x128: 1536-d features (class token, mean part token).

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_base_pass", "base", (256, 128), num_classes, **kwargs)


@_register(feature_dim=1536, input_size=(384, 128))
def vit_base_384_pass(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> PASS:
    """The architecture of ``vit_base_pass``, trained at 384x128 (192 patches): 1536-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_base_384_pass", "base", (384, 128), num_classes, **kwargs)
