"""fast-reid's MobileNetV3, OSNet and timm backbones: layout against the seed's fixtures, shapes, gradients.

Numerical parity of the full models is tests/parity's job; here each backbone is checked on its
own, at small inputs so the file stays cheap on CPU.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from reid_fastreid.backbones.mobilenetv3 import build_mobilenetv3_backbone
from reid_fastreid.backbones.osnet import build_osnet_backbone
from reid_fastreid.backbones.timm_backbones import build_timm_backbone

FIXTURES = Path(__file__).parents[1] / "parity" / "fixtures"

#: fixture tag (bagtricks_<tag>_fastreid) -> builder
BUILDERS = {
    "mobilenet_v3_large": build_mobilenetv3_backbone,
    "osnet_x1_0": lambda: build_osnet_backbone(ibn=False),
    "osnet_ibn_x1_0": lambda: build_osnet_backbone(ibn=True),
    **{
        arch: functools.partial(build_timm_backbone, arch)
        for arch in ("densenet121", "convnext_tiny", "inception_v3", "inception_v4", "inception_resnet_v2")
    },
}

#: output stride of the backbones whose convolutions all pad to keep "same" sizes
STRIDE = {"mobilenet_v3_large": 32, "osnet_x1_0": 16, "osnet_ibn_x1_0": 16, "densenet121": 32, "convnext_tiny": 16}

INPUT = (128, 96)  # divisible by 32, and wide enough for the Inception stems' unpadded convs


def _inception_side(n: int) -> int:
    # The three Inception trunks share one sequence of unpadded reductions: a stride-2 3x3,
    # a 3x3, a stride-2 3x3, a 3x3, then three stride-2 3x3 (pools or reduction blocks).
    def halve(m: int) -> int:
        return (m - 3) // 2 + 1

    n = halve(n) - 2
    n = halve(n) - 2
    return halve(halve(halve(n)))


def expected_map(tag: str, h: int, w: int) -> tuple[int, int]:
    if tag in STRIDE:
        return h // STRIDE[tag], w // STRIDE[tag]
    return _inception_side(h), _inception_side(w)


@functools.cache
def fixture_keys(tag: str) -> dict[str, tuple[tuple[int, ...], str]]:
    fx = json.loads((FIXTURES / f"bagtricks_{tag}_fastreid.json").read_text())
    return {k: (tuple(shape), dtype) for k, (shape, dtype) in fx["keys"].items()}


@functools.cache
def backbone(tag: str) -> nn.Module:
    torch.manual_seed(0)
    return BUILDERS[tag]()


def test_inception_side_follows_the_papers():
    # Inception-v3/v4 and Inception-ResNet-v2 all end on an 8 x 8 grid at their 299 x 299 input
    assert _inception_side(299) == 8


@pytest.mark.parametrize("tag", BUILDERS)
def test_state_dict_is_the_seeds(tag):
    want = {k: v for k, v in fixture_keys(tag).items() if k.startswith("backbone.")}
    got = {
        f"backbone.{k}": (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for k, t in backbone(tag).state_dict().items()
    }
    assert sorted(set(want) - set(got)) == [], "keys missing from the backbone"
    assert sorted(set(got) - set(want)) == [], "keys the seed's backbone does not have"
    assert {k: got[k] for k in want if got[k] != want[k]} == {}, "shapes or dtypes differ"


@pytest.mark.parametrize("tag", BUILDERS)
def test_out_channels_feed_the_neck(tag):
    # the BN neck of the seed's head is sized by the backbone's output channels
    (neck,), _ = fixture_keys(tag)["heads.bottleneck.0.weight"]
    assert backbone(tag).out_channels == neck


@pytest.mark.parametrize("tag", BUILDERS)
def test_forward_gives_the_feature_map(tag):
    model = backbone(tag).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, *INPUT))
    assert tuple(y.shape) == (2, model.out_channels, *expected_map(tag, *INPUT))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("tag", BUILDERS)
def test_backward_reaches_every_parameter(tag):
    model = BUILDERS[tag]().train()
    # the smallest input each trunk takes, to keep the pass cheap
    size = (80, 80) if tag.startswith("inception") else (64, 32)
    model(torch.randn(2, 3, *size)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_osnet_ibn_uses_instance_norm_only_where_fastreid_does():
    ibn = backbone("osnet_ibn_x1_0")
    with_in = sorted(n for n, m in ibn.named_modules() if isinstance(m, nn.InstanceNorm2d))
    assert with_in == ["conv1.bn", "conv2.0.IN", "conv2.1.IN"]
    plain = backbone("osnet_x1_0")
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in plain.modules())


def test_unknown_timm_arch_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="densenet121"):
        build_timm_backbone("resnet50")
