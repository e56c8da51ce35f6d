"""The registered TransReID-SSL models and their builders.

Build options shared by the builders (``create_model(name, ..., option=value)``):

* ``img_size``: (H, W) to build for (default: the size the published weights were trained at).
  Checkpoints made at TransReID-SSL's other size get their position embeddings interpolated
  (bilinear) when they are loaded.
* ``backbone_weights``: ``"lup"`` fills the trunk with the LUPerson self-supervised weights the
  upstream recipe starts from (catalogued, fetched through the weights cache), or a path to such
  a file. Default: random initialization.
* ``depth``: transformer blocks (12; fewer only for quick tests).
* ``drop_path_rate``: stochastic depth of the last block (0.1, as TransReID-SSL trains).

Grad-CAM: ``cam_layer`` outputs tokens; pass ``reshape_transform=model.reshape_transform``.
"""

from __future__ import annotations

import os
from typing import Any

from . import family
from .meta_arch import TransReIDSSL
from .pretrained import load_backbone_weights

PAPER = "https://arxiv.org/abs/2111.12084"
#: TransReID-SSL's configs normalize with 0.5/0.5 (INPUT.PIXEL_MEAN / PIXEL_STD).
MEAN = STD = (0.5, 0.5, 0.5)
NOTES = "No camera embedding: camids are ignored. Grad-CAM needs model.reshape_transform (tokens to a map)."

_SIZES = {"small": (384, 6), "base": (768, 12)}


def _build(
    name: str,
    arch: str,
    ics: bool,
    default_size: tuple[int, int],
    num_classes: int,
    *,
    img_size: tuple[int, int] | None = None,
    depth: int = 12,
    drop_path_rate: float = 0.1,
    backbone_weights: str | os.PathLike | None = None,
) -> TransReIDSSL:
    embed_dim, heads = _SIZES[arch]
    model = TransReIDSSL(
        num_classes, embed_dim=embed_dim, depth=depth, num_heads=heads, ics=ics,
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


@_register(feature_dim=384)
def vit_small_transreid_ssl(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReIDSSL:
    """ViT-S/16 (plain 16x16 patches) pretrained on LUPerson, at 256x128: 384-d class-token features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_small_transreid_ssl", "small", False, (256, 128), num_classes, **kwargs)


@_register(feature_dim=384)
def vit_small_ics_transreid_ssl(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReIDSSL:
    """ViT-S/16 behind the IBN-based convolution stem (ICS), at 256x128: 384-d features.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_small_ics_transreid_ssl", "small", True, (256, 128), num_classes, **kwargs)


@_register(feature_dim=768, input_size=(384, 128))
def vit_base_ics_transreid_ssl(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> TransReIDSSL:
    """ViT-B/16 behind the ICS stem, at 384x128 (the only size its weights were published at): 768-d.

    Args:
        num_classes: identities of the classifier (751 Market-1501, 1041 MSMT17).
        camera_num: ignored: no side information embedding.
        **kwargs: ``img_size``, ``backbone_weights``, ``depth``, ``drop_path_rate`` (see the module).
    """
    return _build("vit_base_ics_transreid_ssl", "base", True, (384, 128), num_classes, **kwargs)
