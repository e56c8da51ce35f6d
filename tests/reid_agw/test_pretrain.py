"""Pretrained start of resnet50_agw: torchvision's ResNet-50 into ``base``, non-local blocks fresh."""

import pytest
import torch

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.registry import REGISTRY

from ..backbone_files import assert_params_from, torchvision_reference, torchvision_resnet50


@pytest.mark.slow
@torch.no_grad()
def test_resnet50_layout_loads_and_the_stages_match_torchvision():
    sd = torchvision_resnet50()
    family, _ = REGISTRY.lookup("resnet50_agw")
    assert set(family.backbones) == {"resnet50_torchvision"}
    model = reid_core.create_model("resnet50_agw").eval()
    report = load_backbone_weights(model, family.backbone_spec(model.name, model), sd)
    assert report.dropped == ["fc.weight", "fc.bias"]
    assert report.fresh and all(k.startswith(("base.NL_2.", "base.NL_3.")) for k in report.fresh)
    assert_params_from(model, sd, {k: ["base." + k] for k in sd if not k.startswith("fc.")})
    ref = torchvision_reference("resnet50", sd)
    x = torch.rand(2, 3, 64, 32)
    y = ref.maxpool(ref.bn1(ref.conv1(x)))  # ReID-Survey's stem has no ReLU
    ours = y
    for stage in (1, 2, 3):  # the fresh non-local blocks add zero: the stages are torchvision's
        ours = model.base.forward_stage(ours, stage)
    assert torch.allclose(ours, ref.layer3(ref.layer2(ref.layer1(y))), atol=1e-4)
