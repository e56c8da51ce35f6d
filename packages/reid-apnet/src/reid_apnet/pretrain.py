"""Pretrained start of ``resnet50_ap``: AP-Net keeps reid-strong-baseline's ``PRETRAIN_CHOICE:
'imagenet'``: torchvision's ResNet-50 goes into ``base`` with ``load_param`` (every key but
``fc``), and the stage views ``base_1`` .. ``base_5`` share those modules.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn

#: the stage views share the trunk's modules; their state-dict names are listed too
_STAGES = (
    ("", "base."),
    ("conv1.", "base_1.0."),
    ("bn1.", "base_1.1."),
    ("layer1.", "base_2.0."),
    ("layer2.", "base_3.0."),
    ("layer3.", "base_4.0."),
    ("layer4.", "base_5.0."),
)


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if name != "resnet50_ap":
        return None
    return BackboneSpec(
        "resnet50_torchvision", trunk=("base.*", "base_?.*"), rename=_STAGES, drop=("fc.*",)
    )
