"""Pretrained starts of the *_transreid models: timm's ViT-B/16 and DeiT's distilled file, as
TransReID's load_param reads them (two-block networks keep the test small)."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F

import reid_core
from reid_core.backbone_weights import load_backbone_weights
from reid_core.registry import REGISTRY
from reid_transreid.pretrain import FILES

from ..backbone_files import assert_params_from, served

DEPTH = 2


def spec_of(model):
    family, _ = REGISTRY.lookup(model.name)
    return family.backbone_spec(model.name, model)


def vit_file(arch: str = "vit_base_patch16_224", seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model(arch, depth=DEPTH).state_dict()


def resized(pos: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """TransReID's resize_pos_embed: the 14 x 14 grid interpolated bilinearly to rows x cols."""
    grid = pos[0, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(rows, cols), mode="bilinear")
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)], dim=1)


def test_catalogued_files():
    family, _ = REGISTRY.lookup("vit_transreid")
    assert set(FILES.values()) <= set(family.backbones)


@torch.no_grad()
def test_vit_b16_at_224_matches_timm():
    sd = vit_file()
    with served({"jx_vit_base_p16_224-80ecf9dd.pth": sd}) as server:
        model = reid_core.create_model("vit_base_transreid", img_size=(224, 224), depth=DEPTH,
                                       backbone_weights=server.url("/jx_vit_base_p16_224-80ecf9dd.pth")).eval()
    report = model.backbone_report
    assert report.dropped == ["head.weight", "head.bias"]
    assert report.fresh == ["base.fc.weight", "base.fc.bias"]  # the ImageNet head is never loaded
    assert_params_from(model, sd, {k: ["base." + k] for k in sd if not k.startswith("head.")})
    ref = timm.create_model("vit_base_patch16_224", depth=DEPTH)
    ref.load_state_dict(sd)
    x = torch.randn(2, 3, 224, 224)
    assert torch.allclose(model.base(x), ref.eval().forward_features(x)[:, 0], atol=1e-4)


@torch.no_grad()
def test_vit_b16_resized_to_the_reid_grid_and_copied_into_the_jigsaw_branches():
    sd = vit_file(seed=1)
    base_model = reid_core.create_model("vit_base_transreid", depth=DEPTH)  # 256 x 128, stride 16
    load_backbone_weights(base_model, spec_of(base_model), sd)
    assert torch.allclose(base_model.base.pos_embed, resized(sd["pos_embed"], 16, 8), atol=1e-6)

    model = reid_core.create_model("vit_transreid", depth=DEPTH)  # stride 12: a 21 x 10 grid
    report = load_backbone_weights(model, spec_of(model), sd)
    assert torch.allclose(model.base.pos_embed, resized(sd["pos_embed"], 21, 10), atol=1e-6)
    assert "base.sie_embed" in report.fresh
    last = f"blocks.{DEPTH - 1}."
    where = {k: [k.replace(last, f"{b}.0.", 1) for b in ("b1", "b2")] for k in sd if k.startswith(last)}
    where.update({k: [k.replace("norm.", f"{b}.1.", 1) for b in ("b1", "b2")] for k in sd if k.startswith("norm.")})
    assert_params_from(model, sd, where)


@torch.no_grad()
def test_deit_distilled_file_drops_the_distillation_token():
    torch.manual_seed(2)
    deit = timm.create_model("deit_base_distilled_patch16_224", depth=DEPTH).state_dict()
    assert deit["pos_embed"].shape[1] == 198  # class, distillation, 196 patches
    model = reid_core.create_model("deit_transreid", depth=DEPTH)
    report = load_backbone_weights(model, spec_of(model), {"model": deit})
    assert set(report.dropped) == {"dist_token", "head.weight", "head.bias", "head_dist.weight", "head_dist.bias"}
    assert report.unwrapped == ['["model"]']
    without_dist = torch.cat([deit["pos_embed"][:, :1], deit["pos_embed"][:, 2:]], dim=1)
    assert torch.allclose(model.base.pos_embed, resized(without_dist, 21, 10), atol=1e-6)
    assert torch.equal(model.base.cls_token, deit["cls_token"])
    with pytest.raises(reid_core.errors.CheckpointError, match=r"base\.cls_token"):
        load_backbone_weights(model, spec_of(model), {k: v for k, v in deit.items() if k != "cls_token"})
