"""Pretrained starts of the ``*_lmbn`` models: LightMBN builds its trunk from an ImageNet network
(``osnet_x1_0(pretrained=True)`` / torchvision's ``resnet50(pretrained=True)``) and copies its
stages into the shared trunk and the three branches.

The maps below follow upstream's slicing: OSNet's ``conv3[1:]`` keeps the child names 1 and 2,
ResNet's ``layer3[1:]`` is re-indexed from 0, and layer4's weights also seed the stride-1 copies.
The erasing block's extra block and the heads are not in the ImageNet files and keep their init.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn

BRANCHES = ("global_branch", "partial_branch", "channel_branch")
HEADS = ("reduction_*", "shared.*", "batch_drop_block.*")


def _osnet_rules() -> tuple[tuple[str, str], ...]:
    rules = [("conv1.", "backone.0."), ("conv2.", "backone.2."), ("conv3.0.", "backone.3.")]
    for b in BRANCHES:
        rules += [("conv3.1.", f"{b}.0.1."), ("conv3.2.", f"{b}.0.2."), ("conv4.", f"{b}.1."), ("conv5.", f"{b}.2.")]
    return tuple(rules)


def _resnet_rules() -> tuple[tuple[str, str], ...]:
    rules = [("conv1.", "backone.0."), ("bn1.", "backone.1."), ("layer1.", "backone.4."),
             ("layer2.", "backone.5."), ("layer3.0.", "backone.6.")]
    for b in BRANCHES:
        rules += [(f"layer3.{i}.", f"{b}.0.{i - 1}.") for i in range(1, 6)]
        rules.append(("layer4.", f"{b}.1."))
    return tuple(rules)


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    trunk = ("backone.*", *(f"{b}.*" for b in BRANCHES))
    if name == "osnet_lmbn":
        return BackboneSpec("osnet_x1_0_imagenet", trunk=trunk, rename=_osnet_rules(), drop=("fc.*", "classifier.*"))
    if name == "resnet50_lmbn":
        return BackboneSpec("resnet50_torchvision", trunk=trunk, rename=_resnet_rules(), drop=("fc.*",))
    return None
