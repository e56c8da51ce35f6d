"""Pretrained starts of the ``*_fastreid`` models: which ImageNet file fast-reid's backbone
builders load (``MODEL.BACKBONE.PRETRAIN: True`` in every Base-*.yml), and how its keys map.

The files are listed in ``catalog.yaml`` under ``backbones:``. fast-reid loads them into the
backbone with ``strict=False`` and logs what did not fit; here the same mapping is strict: the
keys fast-reid leaves out are named (dropped or left at init) and anything else is an error.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn

from .models import MODELS, model_name

#: backbone tag -> (catalog id of the file, file keys dropped, backbone keys left at init)
FILES: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {
    # non-local blocks are new layers: fast-reid's strict=False leaves them at their init
    "R50": ("resnet50_torchvision", ("fc.*",), ("NL_*",)),
    "R50_ibn": ("resnet50_ibn_a", ("fc.*",), ("NL_*",)),
    "R101_ibn": ("resnet101_ibn_a", ("fc.*",), ("NL_*",)),
    "SeR50": (None, (), ()),
    "S50": ("resnest50", ("fc.*",), ()),
    "S50_ibn": ("resnest50", ("fc.*",), ()),
    # fast-reid replaces torchvision's classifier by its own 1x1 conv (``conv``), new there too
    "mobilenet_v3_large": ("mobilenet_v3_large_torchvision", ("classifier.*",), ("conv.*",)),
    # deep-person-reid's ImageNet OSNet files; fast-reid's backbone has no fc or classifier
    "osnet_x1_0": ("osnet_x1_0_imagenet", ("fc.*", "classifier.*"), ()),
    "osnet_ibn_x1_0": ("osnet_ibn_x1_0_imagenet", ("fc.*", "classifier.*"), ()),
    # timm's own weights (timm.create_model(pretrained=True)); timm drops the classifier itself
    "densenet121": ("densenet121_timm", ("classifier.*",), ()),
    "convnext_tiny": ("convnext_tiny_timm", ("head.fc.*",), ()),
    "inception_v3": ("inception_v3_timm", ("fc.*", "AuxLogits.*"), ()),
    "inception_v4": ("inception_v4_timm", ("last_linear.*",), ()),
    "inception_resnet_v2": ("inception_resnet_v2_timm", ("classif.*",), ()),
}

_SER50_WHY = (
    "fast-reid's build_resnet_backbone looks up model_urls['se_50x'], which its table does not "
    "have; upstream SE-ResNet-50 needs MODEL.BACKBONE.PRETRAIN_PATH"
)

#: zoo name -> (meta-architecture, backbone tag)
_BY_NAME = {model_name(arch, recipe, backbone): (arch, backbone) for arch, recipe, backbone in MODELS}


def _mgn_rules(layer3_blocks: int) -> tuple[tuple[str, str], ...]:
    # MGN's shared part is backbone.0-6 (stem, layer1, layer2, layer3[0]); each branch b1-b3
    # copies layer3[1:] (as .0) and layer4 (as .1) after fast-reid loaded the ImageNet trunk.
    rules = [("conv1.", "backbone.0."), ("bn1.", "backbone.1."), ("layer1.", "backbone.4."),
             ("layer2.", "backbone.5."), ("layer3.0.", "backbone.6.")]
    for b in ("b1", "b2", "b3"):
        rules += [(f"layer3.{i}.", f"{b}.0.{i - 1}.") for i in range(1, layer3_blocks)]
        rules.append(("layer4.", f"{b}.1."))
    return tuple(rules)


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if name not in _BY_NAME:
        return None
    arch, tag = _BY_NAME[name]
    weights, drop, fresh = FILES[tag]
    if weights is None:
        return BackboneSpec(None, trunk=("backbone.*",), why_none=_SER50_WHY)
    if arch == "mgn":
        blocks = len(model.b1[0]) + 1
        return BackboneSpec(weights, trunk=("backbone.*", "b1.*", "b2.*", "b3.*"), rename=_mgn_rules(blocks), drop=drop)
    return BackboneSpec(
        weights,
        trunk=("backbone.*",),
        rename=(("", "backbone."),),
        drop=drop,
        fresh=tuple(f"backbone.{p}" for p in fresh),
    )
