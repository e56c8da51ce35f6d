"""reid_core.nn.vit: the ViT pieces TransReID's descendants share (token grids, checkpoints of SSL trunks)."""

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("timm")

from reid_core.nn.vit import (  # noqa: E402
    PatchEmbed,
    dino_backbone_state,
    grid_of,
    patch_grid,
    reshape_tokens,
    resize_grid_embed,
)


def test_patch_grid_and_tokens_to_map():
    assert patch_grid((256, 128), 16, 16) == (16, 8)
    assert patch_grid((256, 128), 16, 12) == (21, 10)
    with pytest.raises(ValueError, match="smaller than one 16x16 patch"):
        patch_grid((8, 128), 16, 16)
    tokens = torch.arange(2 * (4 + 6) * 3, dtype=torch.float32).reshape(2, 10, 3)
    fmap = reshape_tokens(tokens, (3, 2))  # four leading tokens dropped
    assert fmap.shape == (2, 3, 3, 2)
    torch.testing.assert_close(fmap[1, :, 2, 1], tokens[1, 9])
    with pytest.raises(ValueError, match="on a 4x4 grid"):
        reshape_tokens(tokens, (4, 4))


def test_grid_of_picks_the_candidate_with_that_many_cells():
    assert grid_of(192, ((16, 8), (24, 8))) == (24, 8)
    assert grid_of(100, ((16, 8), (24, 8))) is None


@pytest.mark.parametrize("prefix", [0, 1, 4])
def test_resize_grid_embed_keeps_the_prefix_and_interpolates_bilinearly(prefix):
    pos = torch.randn(1, prefix + 16 * 8, 5)
    out = resize_grid_embed(pos, (16, 8), (24, 8), prefix)
    assert out.shape == (1, prefix + 24 * 8, 5)
    torch.testing.assert_close(out[:, :prefix], pos[:, :prefix])
    grid = pos[:, prefix:].reshape(1, 16, 8, 5).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(24, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, prefix:], expected.flatten(2).transpose(1, 2))


def test_dino_backbone_state_reads_teacher_backbones_and_drops_heads():
    w = torch.ones(2)
    teacher = {"module.backbone.blocks.0.norm1.weight": w, "module.backbone.head.weight": w,
               "module.head.mlp.0.weight": w, "backbone.cls_token": w}
    assert sorted(dino_backbone_state({"teacher": teacher, "epoch": 3})) == ["blocks.0.norm1.weight", "cls_token"]
    plain = {"model": {"module.pos_embed": w, "dist_token": w, "pre_logits.fc.weight": w, "norm.bias": w}}
    assert sorted(dino_backbone_state(plain)) == ["norm.bias", "pos_embed"]


def test_patch_embed_refuses_another_input_size():
    embed = PatchEmbed((64, 32), 16, 16, 8)
    assert embed(torch.rand(1, 3, 64, 32)).shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"img_size=\(96, 32\)"):
        embed(torch.rand(1, 3, 96, 32))
