"""The *_lmbn models: LightMBN's output layout, train-mode outputs, its erasing block and checkpoints."""

import pytest
import torch

import reid_core
from reid_core import load_weights
from reid_lightmbn import PARTS
from reid_lightmbn.meta_arch import BatchDropTop

NAMES = ("osnet_lmbn", "resnet50_lmbn")


@pytest.fixture(scope="module")
def osnet():
    torch.manual_seed(0)
    return reid_core.create_model("osnet_lmbn", num_classes=11)


def test_metadata_is_lightmbns():
    for name in NAMES:
        info = reid_core.model_info(name)
        assert info.feature_dim == 512 * len(PARTS) == 3584
        assert info.input_size == (384, 128)
        assert info.mean == pytest.approx((0.485, 0.456, 0.406)) and not info.camera_aware


def test_eval_output_is_the_stack_flattened_channel_major(osnet):
    osnet.eval()
    x = torch.rand(2, 3, 128, 64)
    with torch.no_grad():
        raw = osnet(x)
        osnet.part_norm = True
        try:
            normed = osnet(x)
        finally:
            osnet.part_norm = False
    assert raw.shape == normed.shape == (2, 3584)
    # index c * 7 + part: viewed as [B, 512, 7], every part column has unit norm once normalized ...
    parts = normed.view(2, 512, 7)
    assert torch.allclose(parts.norm(dim=1), torch.ones(2, 7), atol=1e-5)
    # ... and is the raw column scaled, which no other memory order would give
    raw_parts = raw.view(2, 512, 7)
    assert torch.allclose(parts, raw_parts / raw_parts.norm(dim=1, keepdim=True), atol=1e-6)


def test_eval_global_and_drop_parts_share_the_block_but_not_the_pooling(osnet):
    osnet.eval()
    with torch.no_grad():
        parts = osnet(torch.rand(1, 3, 128, 64)).view(1, 512, 7)
    # global is avg-pooled, the (not erased at eval) drop feature max-pooled: they must differ
    assert not torch.allclose(parts[..., 0], parts[..., 1])


def test_train_mode_returns_seven_logits_and_three_triplet_features(osnet):
    osnet.train()
    out = osnet(torch.rand(4, 3, 64, 32))
    assert len(out["logits"]) == 7 and all(z.shape == (4, 11) for z in out["logits"])
    assert len(out["features"]) == 3 and all(f.shape == (4, 512) for f in out["features"])
    osnet.eval()


def test_batch_drop_top_erases_the_strongest_rows_in_training_only():
    drop = BatchDropTop(0.33)
    x = torch.full((2, 4, 6, 3), 0.1)
    x[0, :, 1] = 5.0  # the strongest rows of each sample
    x[0, :, 4] = 4.0
    x[1, :, 5] = 3.0
    x[1, :, 0] = 2.0
    drop.train()
    y = drop(x)
    zeroed = [[r for r in range(6) if torch.all(y[b, :, r] == 0)] for b in range(2)]
    assert zeroed == [[1, 4], [0, 5]]  # round(0.33 * 6) = 2 rows each
    drop.eval()
    assert torch.equal(drop(x), x)


@pytest.mark.parametrize("prefix", ["", "model.", "module.model."])
def test_upstream_files_load_strictly_with_their_prefixes(prefix, osnet, tmp_path):
    state = {prefix + k: v for k, v in osnet.state_dict().items()}
    path = tmp_path / "lmbn_n_market.pth"
    torch.save({"state_dict": state} if prefix else state, path)
    fresh = reid_core.create_model("osnet_lmbn", num_classes=11)
    report = load_weights(fresh, path, strict=True)
    assert report.ok and report.loaded == len(osnet.state_dict())
    loaded = fresh.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in osnet.state_dict().items())


def test_resnet50_branches_keep_layer4_weights_shape_but_not_its_stride():
    model = reid_core.create_model("resnet50_lmbn", num_classes=5).eval()
    x = torch.rand(1, 1024, 24, 8)
    with torch.no_grad():
        assert model.global_branch(x).shape == (1, 2048, 12, 4)
        assert model.partial_branch(x).shape == (1, 2048, 24, 8)
        assert model.channel_branch(x).shape == (1, 2048, 24, 8)
    assert "reduction_drop.reduction.weight" in model.state_dict()
    assert not any(k.startswith("reduction_4.") for k in model.state_dict())
