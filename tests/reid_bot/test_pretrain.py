"""Pretrained starts of the *_bot models: torchvision, IBN-Net and Cadene files into ``base``."""

from __future__ import annotations

import pytest
import torch
import torchvision

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.errors import CheckpointError
from reid_core.registry import REGISTRY
from reid_bot.pretrain import FILES

from ..backbone_files import assert_params_from, served, torchvision_reference, torchvision_resnet50


def spec_of(name, model):
    family, _ = REGISTRY.lookup(name)
    return family.backbone_spec(name, model)


def test_every_model_has_a_catalogued_file():
    family, _ = REGISTRY.lookup("resnet50_bot")
    assert set(FILES) == set(reid_core.list_models(family="bot"))
    assert set(FILES.values()) <= set(family.backbones)


@torch.no_grad()
def test_resnet18_from_a_url_matches_torchvision():
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    with served({"resnet18-5c106cde.pth": sd}) as server:
        model = reid_core.create_model("resnet18_bot", last_stride=2,
                                       backbone_weights=server.url("/resnet18-5c106cde.pth")).eval()
    assert_params_from(model, sd, {k: ["base." + k] for k in sd if not k.startswith("fc.")})
    assert model.backbone_report.dropped == ["fc.weight", "fc.bias"]
    ref = torchvision_reference("resnet18", sd)
    x = torch.rand(2, 3, 64, 32)
    # reid-strong-baseline's stem has no ReLU; the rest is torchvision's network
    y = ref.maxpool(ref.bn1(ref.conv1(x)))
    assert torch.allclose(model.base(x), ref.layer4(ref.layer3(ref.layer2(ref.layer1(y)))), atol=1e-5)


def ibn_a_file(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The IBN-Net release's ResNet-50-IBN-a layout: torchvision's, with ``bn1`` of every block of
    layers 1-3 split into ``IN`` (affine instance norm, first half) and ``BN`` (second half)."""
    out = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] in ("layer1", "layer2", "layer3") and parts[2] == "bn1":
            half = sd[".".join(parts[:3]) + ".weight"].shape[0] // 2
            if parts[3] in ("weight", "bias"):
                out[".".join(parts[:3] + ["IN", parts[3]])] = torch.randn(half)
            out[".".join(parts[:3] + ["BN", parts[3]])] = value if value.dim() == 0 else value[half:].clone()
        else:
            out[key] = value
    return out


@pytest.mark.slow
@torch.no_grad()
def test_ibn_a_file_loads_strictly_and_leaves_the_unused_fc_at_init():
    sd = ibn_a_file(torchvision_resnet50())
    model = reid_core.create_model("resnet50_ibn_a_bot")
    fc = model.base.fc.weight.clone()
    report = load_backbone_weights(model, spec_of(model.name, model), sd)
    assert report.dropped == ["fc.weight", "fc.bias"] and report.fresh == ["base.fc.weight", "base.fc.bias"]
    assert torch.equal(model.base.fc.weight, fc)
    assert_params_from(model, sd, {k: ["base." + k] for k in sd if not k.startswith("fc.")})
    del sd["layer1.0.bn1.IN.weight"]
    with pytest.raises(CheckpointError, match=r"base\.layer1\.0\.bn1\.IN\.weight"):
        load_backbone_weights(model, spec_of(model.name, model), sd)


def cadene_se_resnet50_keys() -> list[str]:
    """Key names of Cadene's se_resnet50 file (pretrained-models.pytorch senet.py)."""
    keys = ["layer0.conv1.weight"] + [f"layer0.bn1.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
    bn = ("weight", "bias", "running_mean", "running_var")
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            pre = f"layer{stage}.{b}."
            for i in (1, 2, 3):
                keys += [pre + f"conv{i}.weight"] + [pre + f"bn{i}.{p}" for p in bn]
            keys += [pre + f"se_module.fc{i}.{p}" for i in (1, 2) for p in ("weight", "bias")]
            if b == 0:
                keys += [pre + "downsample.0.weight"] + [pre + f"downsample.1.{p}" for p in bn]
    return keys + ["last_linear.weight", "last_linear.bias"]


@torch.no_grad()
def test_cadene_se_resnet50_layout_loads_strictly():
    model = reid_core.create_model("se_resnet50_bot")
    own = model.state_dict()
    torch.manual_seed(1)
    shapes = {"last_linear.weight": (1000, 2048), "last_linear.bias": (1000,)}
    sd = {k: torch.randn(shapes.get(k) or own["base." + k].shape) for k in cadene_se_resnet50_keys()}
    report = load_backbone_weights(model, spec_of(model.name, model), sd)
    assert report.dropped == ["last_linear.weight", "last_linear.bias"] and not report.fresh
    assert report.counters  # Cadene's files predate BatchNorm's step counter
    assert_params_from(model, sd, {k: ["base." + k] for k in sd if not k.startswith("last_linear")})
    del sd["layer4.2.se_module.fc2.bias"]
    with pytest.raises(CheckpointError, match=r"base\.layer4\.2\.se_module\.fc2\.bias"):
        load_backbone_weights(model, spec_of(model.name, model), sd)
