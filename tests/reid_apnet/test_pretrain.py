"""Pretrained start of resnet50_ap: torchvision's ResNet-50 into ``base`` and its stage views."""

import pytest
import torch

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.registry import REGISTRY

from ..backbone_files import assert_params_from, torchvision_reference, torchvision_resnet50


@pytest.mark.slow
@torch.no_grad()
def test_resnet50_layout_fills_base_and_the_stage_views():
    sd = torchvision_resnet50()
    family, _ = REGISTRY.lookup("resnet50_ap")
    model = reid_core.create_model("resnet50_ap").eval()
    report = load_backbone_weights(model, family.backbone_spec(model.name, model), sd)
    assert report.dropped == ["fc.weight", "fc.bias"] and not report.fresh
    views = {"conv1": "base_1.0", "bn1": "base_1.1", "layer1": "base_2.0", "layer2": "base_3.0",
             "layer3": "base_4.0", "layer4": "base_5.0"}
    where = {k: ["base." + k, views[k.split(".")[0]] + k[len(k.split(".")[0]):]] for k in sd if not k.startswith("fc.")}
    assert assert_params_from(model, sd, where) == 2 * (len(sd) - 2)
    ref = torchvision_reference("resnet50", sd)
    x = torch.rand(2, 3, 64, 32)
    y = ref.maxpool(ref.bn1(ref.conv1(x)))  # the stem view has no ReLU, as upstream
    assert torch.allclose(model.base_4(model.base_3(model.base_2(model.base_1(x)))),
                          ref.layer3(ref.layer2(ref.layer1(y))), atol=1e-4)
