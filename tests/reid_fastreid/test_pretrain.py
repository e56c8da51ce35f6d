"""Pretrained starts of the *_fastreid models: the files fast-reid's backbone builders load."""

from __future__ import annotations

import pytest
import timm
import torch

import reid_core
from reid_core.hub import cache_file_name
from reid_core.backbone_weights import load_backbone_weights
from reid_core.errors import CheckpointError, WeightsError
from reid_core.registry import REGISTRY
from reid_fastreid.pretrain import FILES

from ..backbone_files import assert_params_from, served, torchvision_reference, torchvision_resnet50

X = torch.rand(2, 3, 64, 32)


def spec_of(name, model):
    family, _ = REGISTRY.lookup(name)
    return family.backbone_spec(name, model)


def test_every_catalogued_id_exists():
    family, _ = REGISTRY.lookup("bagtricks_R50_fastreid")
    used = {w for w, _, _ in FILES.values() if w}
    assert used <= set(family.backbones)
    for record in family.backbones.values():
        assert record.url.startswith("https://") and record.licence and record.source


@pytest.mark.slow
@torch.no_grad()
def test_resnet50_from_the_catalog_through_the_mirror(monkeypatch):
    sd = torchvision_resnet50()
    ref = torchvision_reference("resnet50", sd)
    cached = cache_file_name("https://download.pytorch.org/models/resnet50-19c8e357.pth")
    with served({cached: sd}) as server:  # a mirror serves the cache's names
        monkeypatch.setenv("REID_MIRROR", server.base)
        bag = reid_core.create_model("bagtricks_R50_fastreid", backbone_weights="imagenet").eval()
        mgn = reid_core.create_model("mgn_R50_fastreid", backbone_weights="imagenet").eval()
        agw = reid_core.create_model("agw_R50_fastreid", backbone_weights="imagenet").eval()
        assert server.hits["/" + cached] == 1
    trunk = {k: ["backbone." + k] for k in sd if not k.startswith("fc.")}
    assert assert_params_from(bag, sd, trunk) == len(sd) - 2
    assert bag.backbone_report.dropped == ["fc.weight", "fc.bias"]

    # fast-reid's stem pools without padding (ceil mode); the convolutions and stages coincide
    bb = bag.backbone
    assert torch.allclose(bb.bn1(bb.conv1(X)), ref.bn1(ref.conv1(X)), atol=1e-5)
    y = ref.maxpool(ref.relu(ref.bn1(ref.conv1(X))))
    ours = y
    for stage in (1, 2, 3):
        ours = bb.forward_stage(ours, stage)
    assert torch.allclose(ours, ref.layer3(ref.layer2(ref.layer1(y))), atol=1e-4)

    # MGN: shared part up to layer3[0], each branch a copy of layer3[1:] and layer4
    where = {}
    for k in sd:
        parts = k.split(".")
        if k.startswith("fc."):
            continue
        if parts[0] == "layer3" and parts[1] != "0":
            where[k] = [f"b{b}.0.{int(parts[1]) - 1}." + ".".join(parts[2:]) for b in (1, 2, 3)]
        elif parts[0] == "layer4":
            where[k] = [f"b{b}.1." + ".".join(parts[1:]) for b in (1, 2, 3)]
        else:
            index = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5"}.get(parts[0])
            where[k] = [f"backbone.{index}." + ".".join(parts[1:]) if index else "backbone.6." + ".".join(parts[2:])]
    assert assert_params_from(mgn, sd, where) > len(sd)
    z = ref.layer3[0](ref.layer2(ref.layer1(y)))
    assert torch.allclose(mgn.b2[0](z), ref.layer3[1:](z), atol=1e-4)

    # AGW: the non-local blocks are new layers, left at init as upstream and named in the report
    fresh = agw.backbone_report.fresh
    assert fresh and all(k.startswith(("backbone.NL_2.", "backbone.NL_3.")) for k in fresh)
    assert torch.equal(agw.backbone.NL_2[0].W[1].weight, torch.zeros_like(agw.backbone.NL_2[0].W[1].weight))


def test_se_resnet50_has_no_upstream_file():
    with pytest.raises(WeightsError, match="se_50x"):
        reid_core.create_model("bagtricks_SeR50_fastreid", backbone_weights="imagenet")


@torch.no_grad()
def test_ibn_a_and_resnest_files_in_fastreid_layout_load_strictly_and_match_fastreid():
    fastreid = pytest.importorskip("fastreid.modeling.backbones.resnet")
    resnest = pytest.importorskip("fastreid.modeling.backbones.resnest")
    torch.manual_seed(0)
    # fast-reid's own ResNet-50-IBN-a (the IBN-Net release's key layout) and ResNeSt-50
    ibn_ref = fastreid.ResNet(1, "BN", True, False, False, fastreid.Bottleneck, [3, 4, 6, 3], [0, 0, 0, 0]).eval()
    s50_ref = resnest.ResNeSt(1, resnest.Bottleneck, [3, 4, 6, 3], radix=2, groups=1, bottleneck_width=64,
                              deep_stem=True, stem_width=32, avg_down=True, avd=True, avd_first=False,
                              norm_layer="BN").eval()
    for name, ref in (("bagtricks_R50_ibn_fastreid", ibn_ref), ("bagtricks_S50_fastreid", s50_ref)):
        sd = {**ref.state_dict(), "fc.weight": torch.randn(1000, 2048), "fc.bias": torch.randn(1000)}
        model = reid_core.create_model(name).eval()
        report = load_backbone_weights(model, spec_of(name, model), sd)
        assert report.dropped == ["fc.weight", "fc.bias"] and not report.fresh
        assert_params_from(model, sd, {k: ["backbone." + k] for k in ref.state_dict()})
        assert torch.allclose(model.backbone(X), ref(X), atol=1e-4), name
        del sd["layer2.1.conv1.weight"]
        with pytest.raises(CheckpointError, match=r"backbone\.layer2\.1\.conv1\.weight"):
            load_backbone_weights(reid_core.create_model(name), spec_of(name, model), sd)


@torch.no_grad()
def test_mobilenet_v3_from_torchvision():
    torch.manual_seed(1)
    import torchvision

    sd = torchvision.models.mobilenet_v3_large(norm_layer=torch.nn.BatchNorm2d).state_dict()
    model = reid_core.create_model("bagtricks_mobilenet_v3_large_fastreid").eval()
    report = load_backbone_weights(model, spec_of(model.name, model), sd)
    assert sorted(report.dropped) == sorted(k for k in sd if k.startswith("classifier."))
    assert report.fresh and all(k.startswith("backbone.conv.") for k in report.fresh)
    assert_params_from(model, sd, {k: ["backbone." + k] for k in sd if k.startswith("features.")})
    ref = torchvision_reference("mobilenet_v3_large", sd, norm_layer=torch.nn.BatchNorm2d)
    assert torch.allclose(model.backbone.features(X), ref.features(X), atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("arch", ["densenet121", "inception_v3"])
def test_timm_trunks_from_their_own_layout(arch):
    torch.manual_seed(2)
    ref = timm.create_model(arch).eval()
    sd = ref.state_dict()
    name = f"bagtricks_{arch}_fastreid"
    model = reid_core.create_model(name).eval()
    report = load_backbone_weights(model, spec_of(name, model), sd)
    head = ref.default_cfg["classifier"]
    assert report.dropped == [f"{head}.weight", f"{head}.bias"] and not report.fresh
    assert_params_from(model, sd, {k: ["backbone." + k] for k in sd if not k.startswith(head + ".")})
    x = torch.rand(1, 3, 96, 96)
    assert torch.allclose(model.backbone(x), ref.forward_features(x), atol=1e-4)


@torch.no_grad()
def test_inception_v3_from_torchvisions_file():
    # timm's inception_v3 weights are torchvision's: the same keys, plus the auxiliary head
    import torchvision

    torch.manual_seed(3)
    sd = torchvision.models.inception_v3(aux_logits=True, init_weights=False).state_dict()
    model = reid_core.create_model("bagtricks_inception_v3_fastreid").eval()
    report = load_backbone_weights(model, spec_of(model.name, model), sd)
    assert {k.split(".")[0] for k in report.dropped} == {"fc", "AuxLogits"}
    ref = torchvision_reference("inception_v3", sd, aux_logits=True, init_weights=False)
    x = torch.rand(1, 3, 96, 96)
    expect = x
    for block in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                  "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                  "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        expect = getattr(ref, block)(expect)
    assert torch.allclose(model.backbone(x), expect, atol=1e-4)


@torch.no_grad()
def test_osnet_from_deep_person_reids_layout():
    models = pytest.importorskip("torchreid.reid.models")
    torch.manual_seed(4)
    ref = models.build_model("osnet_x1_0", num_classes=1000, pretrained=False).eval()
    sd = ref.state_dict()
    model = reid_core.create_model("bagtricks_osnet_x1_0_fastreid").eval()
    report = load_backbone_weights(model, spec_of(model.name, model), sd)
    assert {k.split(".")[0] for k in report.dropped} == {"fc", "classifier"}
    assert torch.allclose(model.backbone(X), ref.featuremaps(X), atol=1e-5)
