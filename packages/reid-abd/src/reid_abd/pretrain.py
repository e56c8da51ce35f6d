"""Pretrained starts of the ``*_abd`` models: ABD-Net's ``resnet50_backbone`` and
``densenet121_backbone`` always load torchvision's ImageNet file (``init_pretrained_weights``),
then split the trunk: the stem and early stages become ``common_branch``, and each branch gets
its own copy of the last stage.
"""

from __future__ import annotations

import re

import torch
from reid_core.backbone_weights import BackboneSpec
from torch import nn

# torchvision's DenseNet files name a dense layer's modules "norm.1", "conv.2" ...; ABD-Net
# renames them "norm1", "conv2" as it loads (torchvision does the same).
_OLD_DENSE = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


def _densenet_keys(model: nn.Module, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        m = _OLD_DENSE.match(key)
        out[m.group(1) + m.group(2) if m else key] = value
    return out


def _resnet_rules(branches: int) -> tuple[tuple[str, str], ...]:
    common = (
        ("conv1.", "common_branch.backbone1.0."),
        ("bn1.", "common_branch.backbone1.1."),
        ("layer1.", "common_branch.backbone1.4."),
        ("layer2.", "common_branch.backbone2.0."),
        ("layer3.", "common_branch.backbone2.1."),
    )
    return common + tuple(("layer4.", f"branches.{i}.0.backbone.") for i in range(branches))


def _densenet_rules(branches: int) -> tuple[tuple[str, str], ...]:
    first = ("conv0", "norm0", "relu0", "pool0", "denseblock1", "transition1")
    second = ("denseblock2", "transition2", "denseblock3", "transition3")
    rules = [(f"features.{m}.", f"common_branch.backbone1.{i}.") for i, m in enumerate(first)]
    rules += [(f"features.{m}.", f"common_branch.backbone2.{i}.") for i, m in enumerate(second)]
    for b in range(branches):
        rules += [("features.denseblock4.", f"branches.{b}.0.backbone.0."),
                  ("features.norm5.", f"branches.{b}.0.backbone.1.")]
    return tuple(rules)


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    trunk = ("common_branch.backbone1.*", "common_branch.backbone2.*", "branches.*.0.backbone.*")
    branches = len(model.branches)
    if name == "resnet50_abd":
        return BackboneSpec("resnet50_torchvision", trunk=trunk, rename=_resnet_rules(branches), drop=("fc.*",))
    if name == "densenet121_abd":
        return BackboneSpec(
            "densenet121_torchvision", trunk=trunk, rename=_densenet_rules(branches), drop=("classifier.*",),
            convert=_densenet_keys,
        )
    return None
