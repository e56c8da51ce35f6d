"""Pretrained starts of the *_lmbn models: the ImageNet files' keys land on the trunk and all three branches."""

import torch
import torchvision

import reid_core
from reid_core.backbone_weights import backbone_spec_of, load_backbone_weights


def _family():
    return reid_core.list_families()["lightmbn"]


def test_resnet50_lmbn_takes_torchvisions_file_and_computes_its_stages():
    torch.manual_seed(0)
    ref = torchvision.models.resnet50(weights=None).eval()
    model = reid_core.create_model("resnet50_lmbn", num_classes=5).eval()
    spec = backbone_spec_of(_family(), "resnet50_lmbn", model)
    assert spec.weights in _family().backbones
    report = load_backbone_weights(model, spec, ref.state_dict())
    assert report.dropped == ["fc.weight", "fc.bias"] and not report.missing
    x = torch.rand(1, 3, 96, 32)
    with torch.no_grad():
        stem = ref.layer3[0](ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(x)))))))
        assert torch.allclose(model.backone(x), stem, atol=1e-5)
        assert torch.allclose(model.global_branch(stem), ref.layer4(ref.layer3[1:](stem)), atol=1e-5)
    # the stride-1 copies carry layer4's weights too
    for name in ("partial_branch", "channel_branch"):
        assert torch.equal(getattr(model, name)[1][0].conv2.weight, ref.layer4[0].conv2.weight)


def test_osnet_lmbn_takes_an_osnet_imagenet_file_into_all_branches():
    torch.manual_seed(0)
    model = reid_core.create_model("osnet_lmbn", num_classes=5)
    own = model.state_dict()
    # an OSNet x1.0 ImageNet file in deep-person-reid's layout, random values
    layout = {"conv1.": "backone.0.", "conv2.": "backone.2.", "conv3.0.": "backone.3.",
              "conv3.1.": "global_branch.0.1.", "conv3.2.": "global_branch.0.2.",
              "conv4.": "global_branch.1.", "conv5.": "global_branch.2."}
    file = {}
    for src, dst in layout.items():
        file.update({src + k[len(dst):]: torch.randn(v.shape).to(v.dtype) for k, v in own.items() if k.startswith(dst)})
    file.update({"fc.0.weight": torch.randn(512, 512), "fc.0.bias": torch.zeros(512),
                 "classifier.weight": torch.randn(1000, 512), "classifier.bias": torch.zeros(1000)})
    report = load_backbone_weights(model, backbone_spec_of(_family(), "osnet_lmbn", model), file)
    assert sorted(report.dropped) == ["classifier.bias", "classifier.weight", "fc.0.bias", "fc.0.weight"]
    loaded = model.state_dict()
    for branch in ("global_branch", "partial_branch", "channel_branch"):
        assert torch.equal(loaded[f"{branch}.0.1.conv1.conv.weight"], file["conv3.1.conv1.conv.weight"])
        assert torch.equal(loaded[f"{branch}.2.conv.weight"], file["conv5.conv.weight"])
    assert torch.equal(loaded["backone.3.conv1.conv.weight"], file["conv3.0.conv1.conv.weight"])
