"""Pretrained start of ``resnet50_agw``: ReID-Survey's AGW config (``PRETRAIN_CHOICE: 'imagenet'``,
``PRETRAIN_PATH`` torchvision's ``resnet50-19c8e357.pth``) loaded by ``ResNetNL.load_param``.

That method copies every file key except the ImageNet ``fc``; the non-local blocks ImageNet never
saw stay at their initialisation.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if name != "resnet50_agw":
        return None
    return BackboneSpec(
        "resnet50_torchvision", trunk=("base.*",), rename=(("", "base."),), drop=("fc.*",), fresh=("base.NL_*",)
    )
