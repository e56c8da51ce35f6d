"""The 33 ``*_fastreid`` models: a recipe (bagtricks, AGW, SBS; alone or on MGN) on a backbone.

Each name is ``<recipe>_<backbone>_fastreid`` as in the seed's configs. The recipes fix the head:

============  ==========================  ========================  ================  ==========
recipe        pooling                     training feature          classifier        non-local
============  ==========================  ========================  ================  ==========
bagtricks     global average              before the BNNeck         linear            no
agw           GeM, p = 3                  before the BNNeck         linear            layers 2-3
sbs           GeM, learnable p            after the BNNeck          circle softmax    layers 2-3
============  ==========================  ========================  ================  ==========

``mgn``, ``mgn_agw`` and ``mgn_sbs`` put the same heads, reduced to 256 dimensions, on MGN's
eight branches. Every builder is also an attribute of this module.

By default a builder makes the network of today's fast-reid. The options in :data:`CODE_OPTIONS`
make the network of an older fast-reid instead; the catalog records of fast-reid's own release
files set them, since those files were written by the code of 2020-07-30 (see
``docs/families/fastreid.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from reid_core import ReIDModel

from . import family
from .backbones import build_resnest_backbone, build_resnet_backbone
from .meta_arch import MGN, Baseline

#: Builder options that select an older fast-reid's network (defaults: today's fast-reid):
CODE_OPTIONS: dict[str, str] = {
    "stem_pool": "ResNet stem max pooling: 'ceil' (today: padding 0, ceil mode) or 'padded' (padding 1, "
                 "fast-reid before 2020-08-14)",
    "layer4_dilation": "ResNeSt layer4 dilation at last stride 1: 2 (today) or 1 (fast-reid of 2020-07-30)",
    "non_local": "non-local blocks in layers 2-3, overriding the recipe (ResNeSt: today none; the AGW and "
                 "SBS recipes of 2020-07-30 had them)",
    "mgn_layout": "MGN: 'head_reduce' (today: each head reduces to 256) or 'pool_reduce' (2020-07-30: "
                  "b*_pool modules pool, reduce, normalize and ReLU before each head)",
}

PAPERS = {
    "bagtricks": "https://arxiv.org/abs/1903.07071",
    "agw": "https://arxiv.org/abs/2001.04193",
    "sbs": "https://arxiv.org/abs/2006.02631",
    "mgn": "https://arxiv.org/abs/1804.01438",
}

#: recipe -> (EmbeddingHead options, whether the backbone gets non-local blocks, description)
RECIPES: dict[str, tuple[dict[str, Any], bool, str]] = {
    "bagtricks": ({"pooling": "avg", "neck_feat": "before", "classifier": "linear"}, False,
                  "the bag-of-tricks recipe: global average pooling, BNNeck, linear classifier"),
    "agw": ({"pooling": "gem", "neck_feat": "before", "classifier": "linear"}, True,
            "the AGW recipe: GeM pooling (p=3), BNNeck, linear classifier"),
    "sbs": ({"pooling": "gemp", "neck_feat": "after", "classifier": "circle", "scale": 64.0, "margin": 0.35},
            True,
            "the stronger-baseline (SBS) recipe: learnable GeM, BNNeck, circle softmax"),
}


def _light(module: str, function: str, **kwargs: Any) -> Callable[[bool], nn.Module]:
    # Imported when built: the timm-based backbones are not needed by the other models.
    def build(recipe_non_local: bool) -> nn.Module:
        return getattr(importlib.import_module(f"{__package__}.backbones.{module}"), function)(**kwargs)

    return build


def _resnet(depth: int, **fixed: Any) -> Callable[..., nn.Module]:
    def build(recipe_non_local: bool, *, non_local: bool | None = None, stem_pool: str = "ceil") -> nn.Module:
        nl = recipe_non_local if non_local is None else non_local
        return build_resnet_backbone(depth, non_local=nl, stem_pool=stem_pool, **fixed)

    return build


def _resnest(recipe_non_local: bool, *, non_local: bool = False, layer4_dilation: int = 2) -> nn.Module:
    # Today's fast-reid ResNeSt ignores the recipe's non-local switch; `non_local` restores the 2020 blocks.
    return build_resnest_backbone(50, non_local=non_local, layer4_dilation=layer4_dilation)


#: backbone tag -> (builder taking the recipe's non-local switch and the backbone's code options,
#: feature channels, description, the code options it takes)
BACKBONES: dict[str, tuple[Callable[..., nn.Module], int, str, frozenset[str]]] = {
    "R50": (_resnet(50), 2048, "ResNet-50", frozenset({"stem_pool", "non_local"})),
    "R50_ibn": (_resnet(50, ibn=True), 2048, "ResNet-50-IBN-a", frozenset({"stem_pool", "non_local"})),
    "R101_ibn": (_resnet(101, ibn=True), 2048, "ResNet-101-IBN-a", frozenset({"stem_pool", "non_local"})),
    "SeR50": (_resnet(50, se=True), 2048, "SE-ResNet-50", frozenset({"stem_pool", "non_local"})),
    # fast-reid's ResNeSt builder has no IBN switch.
    "S50": (_resnest, 2048, "ResNeSt-50", frozenset({"layer4_dilation", "non_local"})),
    "S50_ibn": (_resnest, 2048, "ResNeSt-50 (the IBN switch has no effect)",
                frozenset({"layer4_dilation", "non_local"})),
    "mobilenet_v3_large": (_light("mobilenetv3", "build_mobilenetv3_backbone"), 1280, "MobileNetV3-Large",
                           frozenset()),
    "osnet_x1_0": (_light("osnet", "build_osnet_backbone", ibn=False), 512, "OSNet x1.0", frozenset()),
    "osnet_ibn_x1_0": (_light("osnet", "build_osnet_backbone", ibn=True), 512, "OSNet-IBN x1.0", frozenset()),
    "densenet121": (_light("timm_backbones", "build_timm_backbone", arch="densenet121"), 1024,
                    "DenseNet-121 (timm)", frozenset()),
    "convnext_tiny": (_light("timm_backbones", "build_timm_backbone", arch="convnext_tiny"), 768,
                      "ConvNeXt-Tiny at output stride 16 (timm)", frozenset()),
    "inception_v3": (_light("timm_backbones", "build_timm_backbone", arch="inception_v3"), 2048,
                     "Inception-v3 (timm)", frozenset()),
    "inception_v4": (_light("timm_backbones", "build_timm_backbone", arch="inception_v4"), 1536,
                     "Inception-v4 (timm)", frozenset()),
    "inception_resnet_v2": (_light("timm_backbones", "build_timm_backbone", arch="inception_resnet_v2"), 1536,
                            "Inception-ResNet-v2 (timm)", frozenset()),
}

#: backbones with torchvision-style stages (``layer4`` is where Grad-CAM looks)
_TRUNKS = {"R50", "R50_ibn", "R101_ibn", "SeR50", "S50", "S50_ibn"}

_S50_IBN_NOTE = (
    "Structurally identical to its _S50 twin: the seed's fast-reid ResNeSt builder ignores the IBN "
    "switch, so there are no IBN layers (kept that way so that the seed's weights load)."
)
_S50_NL_NOTE = (
    "Today's fast-reid ResNeSt builder adds no non-local blocks, so this S50 model has none by default; "
    "the fast-reid of fast-reid's own release files had them (non_local=True, set by those records)."
)
_MGN_NL_NOTE = (
    "MGN's branches are cut from the trunk's stages, so the recipe's non-local blocks are not in "
    "the network (as upstream)."
)

#: (meta-architecture, recipe, backbone tag) of every registered model
MODELS: list[tuple[str, str, str]] = [
    *[("baseline", "bagtricks", b) for b in (
        "R50", "R50_ibn", "R101_ibn", "S50", "SeR50", "mobilenet_v3_large", "osnet_x1_0", "osnet_ibn_x1_0",
        "densenet121", "convnext_tiny", "inception_v3", "inception_v4", "inception_resnet_v2")],
    *[("baseline", recipe, b) for recipe in ("agw", "sbs") for b in ("R50", "R50_ibn", "R101_ibn", "S50")],
    *[("mgn", recipe, b) for recipe in ("bagtricks", "agw", "sbs") for b in ("R50", "R50_ibn", "S50", "S50_ibn")],
]


def model_name(arch: str, recipe: str, backbone: str) -> str:
    """Zoo name of a combination, e.g. ``("mgn", "sbs", "R50")`` -> ``"mgn_sbs_R50_fastreid"``."""
    if arch == "mgn":
        prefix = "mgn" if recipe == "bagtricks" else f"mgn_{recipe}"
    else:
        prefix = recipe
    return f"{prefix}_{backbone}_fastreid"


def _notes(arch: str, recipe: str, backbone: str) -> str:
    notes = []
    if backbone == "S50_ibn":
        notes.append(_S50_IBN_NOTE)
    if arch == "baseline" and recipe != "bagtricks" and backbone.startswith("S50"):
        notes.append(_S50_NL_NOTE)
    if arch == "mgn" and recipe != "bagtricks":
        notes.append(_MGN_NL_NOTE)
    return " ".join(notes)


def _make_builder(name: str, arch: str, recipe: str, backbone: str) -> Callable[..., ReIDModel]:
    head, non_local, recipe_text = RECIPES[recipe]
    make_backbone, _, backbone_text, code_options = BACKBONES[backbone]
    takes = code_options | ({"mgn_layout"} if arch == "mgn" else set())

    def builder(num_classes: int = 751, camera_num: int = 0, **kwargs: Any) -> ReIDModel:
        code = {k: kwargs.pop(k) for k in list(kwargs) if k in CODE_OPTIONS}
        wrong = sorted(set(code) - takes)
        if wrong:
            raise ValueError(
                f"{name}: option {', '.join(wrong)} does not apply to this model "
                f"(its code options: {', '.join(sorted(takes)) or 'none'})"
            )
        layout = code.pop("mgn_layout", "head_reduce")
        options = {**head, **kwargs}
        if arch == "mgn":
            return MGN(make_backbone(False, **code), num_classes, layout=layout, **options)
        return Baseline(make_backbone(non_local, **code), num_classes, **options)

    if arch == "mgn":
        where = "on MGN's eight 256-d heads"
    elif non_local and backbone in _TRUNKS and not backbone.startswith("S50"):
        where = "with non-local blocks in layers 2 and 3"
    else:
        where = "on one head"
    builder.__name__ = builder.__qualname__ = name
    options_doc = "".join(f"\n* ``{k}``: {CODE_OPTIONS[k]}" for k in sorted(takes))
    builder.__doc__ = (
        f"{backbone_text} with {recipe_text}, {where}.\n\n"
        "Keyword options go to :class:`reid_fastreid.heads.EmbeddingHead` (e.g. ``scale``, ``margin``)"
        + (f", except the code options, which build an older fast-reid's network:\n{options_doc}" if takes else ".")
    )
    builder.__module__ = __name__
    return builder


def _register_all() -> None:
    for arch, recipe, backbone in MODELS:
        name = model_name(arch, recipe, backbone)
        builder = _make_builder(name, arch, recipe, backbone)
        channels = BACKBONES[backbone][1]
        is_mgn = arch == "mgn"
        family.register(
            name,
            feature_dim=2048 if is_mgn else channels,
            classifier_key="b1_head.weight" if is_mgn else "heads.weight",
            cam_layer=("b1.1" if is_mgn else "backbone.layer4") if backbone in _TRUNKS else "backbone",
            paper=PAPERS["mgn"] if is_mgn else PAPERS[recipe],
            notes=_notes(arch, recipe, backbone),
        )(builder)
        globals()[name] = builder


_register_all()
