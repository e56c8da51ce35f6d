"""The *_solider models: SOLIDER's Swin quirks (merge order, padded windows), the semantic
controller, train-mode outputs and checkpoint checks."""

import pytest
import torch
from torch import nn

import reid_core
from reid_core import load_weights
from reid_core.errors import CheckpointError
from reid_solider import SoliderSwin
from reid_solider.backbones.swin import PatchMerging


def _tiny_trunk(**kw) -> SoliderSwin:
    # Swin-T's widths and heads with one or two blocks per stage: fast, same code paths
    torch.manual_seed(0)
    return SoliderSwin(96, (2, 2, 2, 2), (3, 6, 12, 24), **kw).eval()


def test_metadata():
    for name, dim in (("swin_tiny_solider", 768), ("swin_small_solider", 768), ("swin_base_solider", 1024)):
        info = reid_core.model_info(name)
        assert info.feature_dim == dim and info.input_size == (384, 128)
        assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.5, 0.5, 0.5)


def test_patch_merging_concatenates_in_unfold_order():
    torch.manual_seed(0)
    merge = PatchMerging(5)
    x = torch.randn(2, 6 * 4, 5)
    # reference: nn.Unfold(2, stride 2) on the [B, C, H, W] map, as SOLIDER's PatchMerging does
    ref_in = nn.Unfold(2, stride=2)(x.transpose(1, 2).reshape(2, 5, 6, 4)).transpose(1, 2)
    out, hw = merge(x, (6, 4))
    assert hw == (3, 2)
    assert torch.allclose(out, merge.reduction(merge.norm(ref_in)), atol=1e-6)


def test_patch_merging_pads_odd_maps_bottom_right():
    merge = PatchMerging(3)
    _, hw = merge(torch.randn(1, 5 * 3, 3), (5, 3))
    assert hw == (3, 2)


def test_semantic_weight_changes_features_not_weights():
    a, b = _tiny_trunk(semantic_weight=0.2), _tiny_trunk(semantic_weight=1.0)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 384, 128)
    with torch.no_grad():
        fa, fb = a(x), b(x)
    assert fa.shape == (1, 768) and not torch.allclose(fa, fb, atol=1e-4)
    none = _tiny_trunk(semantic_weight=-1)
    assert not any("semantic_embed" in k for k in none.state_dict())
    assert len([k for k in a.state_dict() if "semantic_embed" in k]) == 16
    assert a.semantic_embed_w[3].weight.shape == (768, 2)  # repeats stage 3's width; unused


@pytest.mark.parametrize("size", [(384, 128), (64, 32), (100, 60)])
def test_any_size_runs_with_windows_padded_and_shift_unclipped(size):
    # 64x32 gives stage maps 16x8, 8x4, 4x2, 2x1: all smaller than a 7x7 window in some dimension
    trunk = _tiny_trunk()
    with torch.no_grad():
        out = trunk(torch.randn(2, 3, *size))
    assert out.shape == (2, 768) and torch.isfinite(out).all()


def test_batch_items_are_independent():
    trunk = _tiny_trunk()
    x = torch.randn(3, 3, 96, 32)
    with torch.no_grad():
        together = trunk(x)
        alone = torch.cat([trunk(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_train_mode_logits_and_features():
    model = reid_core.create_model("swin_tiny_solider", num_classes=9, drop_path_rate=0.0)
    model.base.stages[2].blocks = model.base.stages[2].blocks[:2]  # keep the test fast
    out = model(torch.rand(2, 3, 96, 32))
    assert out["logits"].shape == (2, 9) and out["features"].shape == (2, 768)
    assert not model.base.semantic_embed_w[0].weight.requires_grad  # fixed, as upstream trains


def test_a_wrong_relative_position_index_is_refused():
    model = reid_core.create_model("swin_tiny_solider")
    state = model.state_dict()
    key = "base.stages.0.blocks.0.attn.w_msa.relative_position_index"
    assert torch.equal(state[key].diag(), torch.full((49,), 84))  # (2*7-1) * 6 + 6: a token to itself
    state[key] = torch.zeros_like(state[key])  # what a fill rule or a damaged file would give
    with pytest.raises(CheckpointError, match="relative_position_index"):
        load_weights(reid_core.create_model("swin_tiny_solider"), state)


def test_reshape_transform_lays_tokens_out_on_the_last_grid():
    model = reid_core.create_model("swin_tiny_solider").eval()
    tokens, hw = model.base.forward_tokens(torch.rand(1, 3, 384, 128))
    assert hw == model.patch_grid == (12, 4)
    assert model.reshape_transform(tokens).shape == (1, 768, 12, 4)
