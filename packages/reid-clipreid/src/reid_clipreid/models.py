"""The registered CLIP-ReID models and their builders.

Build options shared by the three builders (``create_model(name, ..., option=value)``):

* ``stage``: 0 builds for inference (the default), 1 for prompt learning, 2 for image-encoder
  fine-tuning (see :class:`reid_clipreid.CLIPReID`); the recipes set it.
* ``clip_weights``: ``"openai"`` starts the encoders from OpenAI's CLIP file (catalog section
  ``pretrained``, fetched through the zoo's cache), or a path to such a file. Default: none.
* ``img_size``: (H, W) to build for (256, 128). The published checkpoints fit 256x128 only.
* ``depth``, ``text_depth``: fewer transformer blocks, for quick tests only.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import yaml
from reid_core.hub import fetch_file

from . import family
from .clip.weights import load_clip_weights
from .meta_arch import CLIPReID

PAPER = "https://arxiv.org/abs/2211.13977"
#: CLIP-ReID's ViT configs normalize with 0.5/0.5 (not CLIP's own statistics).
VIT_MEAN = VIT_STD = (0.5, 0.5, 0.5)
#: Cameras of Market-1501, whose 751 identities are create_model's default num_classes.
DEFAULT_CAMERAS = 6


def pretrained_records() -> dict[str, dict[str, Any]]:
    """The catalog's ``pretrained`` section: OpenAI's CLIP files the recipes start from."""
    text = resources.files(__package__).joinpath("catalog.yaml").read_text(encoding="utf-8")
    return dict((yaml.safe_load(text) or {}).get("pretrained") or {})


def clip_file(model_name: str, progress: bool = True) -> os.PathLike:
    """The cached OpenAI CLIP file that ``model_name`` starts from (downloaded once, checksum verified)."""
    for key, rec in pretrained_records().items():
        if model_name in rec.get("models", ()):
            return fetch_file(rec["url"], sha256=rec.get("sha256"), file_name=rec.get("cache_name"),
                              progress=progress, what=f"{key} for {model_name}")
    raise ValueError(f"the catalog records no CLIP weights for {model_name}")


def _build(name: str, num_classes: int, clip_weights: str | os.PathLike | None, **kwargs: Any) -> CLIPReID:
    model = CLIPReID(num_classes, **kwargs)
    if clip_weights is not None:
        path = clip_file(name) if str(clip_weights) == "openai" else clip_weights
        load_clip_weights(model, path)
    return model


@family.register(
    feature_dim=1280,
    mean=VIT_MEAN,
    std=VIT_STD,
    classifier_key="classifier.weight",
    cam_layer="image_encoder.transformer.resblocks.11.ln_1",
    paper=PAPER,
    notes="No camera embedding: camids are ignored. Grad-CAM needs model.reshape_transform (tokens to a map).",
)
def vit_b16_clipreid(num_classes: int = 751, camera_num: int = 0, *, clip_weights: str | None = None,
                     **kwargs: Any) -> CLIPReID:
    """CLIP-ReID on CLIP's ViT-B/16 (patch stride 16): 1280-d features (768 + 512 projected).

    Args:
        num_classes: identities of the prompts and classifiers (built only for training stages).
        camera_num: ignored: this model has no camera embedding.
        clip_weights: ``"openai"`` or a path: start from CLIP's weights (see the module).
        **kwargs: ``stage``, ``img_size``, ``depth``, ``text_depth`` (see the module).
    """
    return _build("vit_b16_clipreid", num_classes, clip_weights, backbone="vit", stride=16, **kwargs)


@family.register(
    feature_dim=1280,
    mean=VIT_MEAN,
    std=VIT_STD,
    camera_aware=True,
    classifier_key="classifier.weight",
    camera_key="cv_embed",
    cam_layer="image_encoder.transformer.resblocks.11.ln_1",
    paper=PAPER,
    notes=(
        "Camera-aware (SIE on the class token, x1.0): pass zero-based camids; camids=None adds the mean "
        "camera embedding. Overlapping patches (stride 12). Grad-CAM needs model.reshape_transform."
    ),
)
def vit_b16_sie_olp_clipreid(num_classes: int = 751, camera_num: int = 0, *, clip_weights: str | None = None,
                             sie_coe: float = 1.0, **kwargs: Any) -> CLIPReID:
    """CLIP-ReID's ViT-B/16 with camera embedding (SIE) and overlapping patches (stride 12): 1280-d.

    Args:
        num_classes: identities of the prompts and classifiers (built only for training stages).
        camera_num: rows of ``cv_embed``: 6 (Market-1501), 8 (DukeMTMC-reID), 15 (MSMT17).
            0, ``create_model``'s default, builds Market-1501's 6.
        clip_weights: ``"openai"`` or a path: start from CLIP's weights (see the module).
        sie_coe: camera-embedding coefficient; 1.0 as the published models were trained
            (CLIP-ReID's code default is 3.0).
        **kwargs: ``stage``, ``img_size``, ``depth``, ``text_depth`` (see the module).
    """
    return _build("vit_b16_sie_olp_clipreid", num_classes, clip_weights, backbone="vit", stride=12,
                  camera_num=camera_num or DEFAULT_CAMERAS, sie_coe=sie_coe, **kwargs)


@family.register(
    feature_dim=3072,
    classifier_key="classifier.weight",
    cam_layer="image_encoder.layer4",
    paper=PAPER,
    notes="No camera embedding: camids are ignored. ImageNet normalization, as CLIP-ReID's CNN config.",
)
def rn50_clipreid(num_classes: int = 751, camera_num: int = 0, *, clip_weights: str | None = None,
                  **kwargs: Any) -> CLIPReID:
    """CLIP-ReID on CLIP's ResNet-50 (last stage stride 1): 3072-d features (2048 pooled + 1024 attention pool).

    Args:
        num_classes: identities of the prompts and classifiers (built only for training stages).
        camera_num: ignored: this model has no camera embedding.
        clip_weights: ``"openai"`` or a path: start from CLIP's weights (see the module).
        **kwargs: ``stage``, ``img_size``, ``text_depth`` (see the module).
    """
    return _build("rn50_clipreid", num_classes, clip_weights, backbone="rn50", **kwargs)
