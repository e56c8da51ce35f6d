"""Pretrained starts of the ``*_bot`` models: reid-strong-baseline's ``MODEL.PRETRAIN_CHOICE:
'imagenet'``, which loads ``MODEL.PRETRAIN_PATH`` into the backbone with ``Baseline.base.load_param``.

That method copies every file key into ``base`` except the ImageNet classifier (``fc`` in the
ResNets, ``last_linear`` in Cadene's SENets). The files are listed in ``catalog.yaml`` under
``backbones:``.
"""

from __future__ import annotations

from reid_core.backbone_weights import BackboneSpec
from torch import nn

#: model -> catalog id of the ImageNet file its backbone is loaded from
FILES: dict[str, str] = {
    "resnet18_bot": "resnet18_torchvision",
    "resnet34_bot": "resnet34_torchvision",
    "resnet50_bot": "resnet50_torchvision",
    "resnet101_bot": "resnet101_torchvision",
    "resnet152_bot": "resnet152_torchvision",
    "resnet50_ibn_a_bot": "resnet50_ibn_a",
    "se_resnet50_bot": "se_resnet50_cadene",
    "se_resnet101_bot": "se_resnet101_cadene",
    "se_resnet152_bot": "se_resnet152_cadene",
    "se_resnext50_bot": "se_resnext50_32x4d_cadene",
    "se_resnext101_bot": "se_resnext101_32x4d_cadene",
    "senet154_bot": "senet154_cadene",
}


def backbone_spec(name: str, model: nn.Module) -> BackboneSpec | None:
    """The pretrained start of ``name`` (``Family.backbone_spec`` of this family)."""
    if name not in FILES:
        return None
    senet = name.startswith(("se_", "senet"))
    return BackboneSpec(
        FILES[name],
        trunk=("base.*",),
        rename=(("", "base."),),
        drop=("last_linear.*",) if senet else ("fc.*",),
        # the IBN-a backbone keeps an ImageNet-sized fc that load_param skips: it stays at init
        fresh=("base.fc.*",),
    )
