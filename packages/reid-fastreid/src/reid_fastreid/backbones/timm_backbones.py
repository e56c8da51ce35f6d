"""The backbones fast-reid (as the seed ran it) takes from timm: DenseNet, ConvNeXt, Inception.

They are timm's own models, so their state-dict keys are timm's. fast-reid creates them without
a classifier and without global pooling and calls the whole model, so the output is the last
feature map after whatever timm's head does before pooling: for ConvNeXt that is the head's
LayerNorm, applied at every position (``head.norm``). ConvNeXt runs at output stride 16
(its last downsampling is replaced by dilation), the others at timm's defaults.
No pretrained weights are ever fetched here.
"""

from __future__ import annotations

from typing import Any

import timm
from torch import nn

#: arch -> extra timm.create_model arguments fast-reid passed for it
ARCHS: dict[str, dict[str, Any]] = {
    "densenet121": {},
    "convnext_tiny": {"output_stride": 16},
    "inception_v3": {},
    "inception_v4": {},
    "inception_resnet_v2": {},
}


def build_timm_backbone(arch: str) -> nn.Module:
    """The timm model ``arch`` as fast-reid's backbone: feature map out, ``out_channels`` set.

    ``arch`` is one of :data:`ARCHS`; the model is randomly initialised (``pretrained=False``).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown fast-reid timm backbone {arch!r}; expected one of {sorted(ARCHS)}")
    # scriptable/exportable as fast-reid set them: they steer timm away from custom-kernel layers
    model = timm.create_model(
        arch, pretrained=False, num_classes=0, global_pool="", scriptable=True, exportable=True, **ARCHS[arch]
    )
    model.out_channels = model.num_features
    return model
