"""Pretrained starts of the *_abd models: torchvision's ResNet-50 and DenseNet-121 files, split
into the common branch and one copy of the last stage per branch."""

import re

import pytest
import torch
import torchvision

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.errors import CheckpointError
from reid_core.registry import REGISTRY

from ..backbone_files import assert_params_from, torchvision_reference, torchvision_resnet50

X = torch.rand(2, 3, 64, 32)


def spec_of(model):
    family, _ = REGISTRY.lookup(model.name)
    return family.backbone_spec(model.name, model)


@pytest.mark.slow
@torch.no_grad()
def test_resnet50_split_into_common_branch_and_branches():
    sd = torchvision_resnet50()
    model = reid_core.create_model("resnet50_abd").eval()
    report = load_backbone_weights(model, spec_of(model), sd)
    assert report.dropped == ["fc.weight", "fc.bias"] and not report.fresh
    common = {"conv1": "common_branch.backbone1.0", "bn1": "common_branch.backbone1.1",
              "layer1": "common_branch.backbone1.4", "layer2": "common_branch.backbone2.0",
              "layer3": "common_branch.backbone2.1"}
    where = {}
    for k in sd:
        head, rest = k.split(".", 1)
        if head == "layer4":
            where[k] = [f"branches.{b}.0.backbone.{rest}" for b in range(len(model.branches))]
        elif head in common:
            where[k] = [f"{common[head]}.{rest}"]
    assert_params_from(model, sd, where)
    ref = torchvision_reference("resnet50", sd)
    shallow = model.common_branch.backbone1(X)
    assert torch.allclose(shallow, ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(X))))), atol=1e-5)
    assert torch.allclose(model.common_branch.backbone2(shallow), ref.layer3(ref.layer2(shallow)), atol=1e-4)


def old_densenet_keys(sd):
    """torchvision's released DenseNet files name a dense layer's modules ``norm.1``, ``conv.2`` ...
    and predate BatchNorm's step counters."""
    return {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in sd.items()
            if not k.endswith("num_batches_tracked")}


@torch.no_grad()
def test_densenet121_file_in_torchvisions_released_layout():
    torch.manual_seed(0)
    sd = torchvision.models.densenet121().state_dict()
    old = old_densenet_keys(sd)
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    model = reid_core.create_model("densenet121_abd").eval()
    report = load_backbone_weights(model, spec_of(model), old)
    assert report.dropped == ["classifier.weight", "classifier.bias"] and not report.fresh
    ref = torchvision_reference("densenet121", sd)
    assert torch.allclose(model.common_branch.backbone1(X), ref.features[:6](X), atol=1e-5)
    deep = model.branches[1][0].backbone
    assert torch.equal(deep[1].weight, sd["features.norm5.weight"])
    del old["features.denseblock4.denselayer16.conv.2.weight"]
    with pytest.raises(CheckpointError, match=r"branches\.0\.0\.backbone\.0\.denselayer16\.conv2\.weight"):
        load_backbone_weights(model, spec_of(model), old)
