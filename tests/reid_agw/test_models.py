"""resnet50_agw: training/eval outputs, the AGW-specific blocks, metadata, catalog and size."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.nn import GeneralizedMeanPooling, NonLocal
from reid_core.profile import count_macs, count_params, human

NAME = "resnet50_agw"
TRAINING_SETS = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}


def small_batch(seed: int = 0) -> torch.Tensor:
    # 64x32 keeps CPU time low: layer4 (last stride 1) still gets a 4x2 map.
    return torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return reid_core.create_model(NAME, num_classes=7)


def test_train_step_reaches_gem_and_non_local_blocks(model):
    model.train()
    model.zero_grad()
    cls_score, global_feat = model(small_batch())
    assert cls_score.shape == (2, 7)
    assert global_feat.shape == (2, 2048)
    assert torch.isfinite(global_feat).all()
    # The logits are computed after the BNNeck, the returned feature is the one before it.
    neck = F.batch_norm(global_feat.detach(), None, None, model.bottleneck.weight.detach(),
                        model.bottleneck.bias.detach(), training=True)
    torch.testing.assert_close(cls_score.detach(), neck @ model.classifier.weight.detach().T, rtol=1e-4, atol=1e-6)

    loss = F.cross_entropy(cls_score, torch.tensor([1, 5])) + global_feat.pow(2).mean()
    loss.backward()
    assert model.global_pool.p.grad is not None and torch.isfinite(model.global_pool.p.grad).all()
    assert model.global_pool.p.grad.abs().sum() > 0
    for nl in [*model.base.NL_2, *model.base.NL_3]:
        # W.1 starts at zero (identity block), so the gradient must reach its BN's scale
        assert nl.W[1].weight.grad.abs().sum() > 0
    assert model.base.conv1.weight.grad.abs().sum() > 0
    assert model.bottleneck.bias.grad is None  # BNNeck: the shift is frozen


def test_structure_is_agw(model):
    assert isinstance(model.global_pool, GeneralizedMeanPooling) and model.global_pool.p.shape == (1,)
    assert len(model.base.NL_2) == 2 and len(model.base.NL_3) == 3
    assert all(isinstance(m, NonLocal) for m in [*model.base.NL_2, *model.base.NL_3])
    assert not hasattr(model.base, "NL_1") and not hasattr(model.base, "NL_4")
    assert model.base.layer4[0].conv2.stride == (1, 1)
    assert model.classifier.bias is None


def test_eval_returns_bnneck_features(model):
    model.eval()
    bn = model.bottleneck
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5, generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)
    pooled = []
    handle = model.global_pool.register_forward_hook(lambda mod, args, out: pooled.append(out.flatten(1)))
    try:
        with torch.no_grad():
            feats = model(small_batch(1))
            with_cams = model(small_batch(1), camids=torch.tensor([0, 2]))
    finally:
        handle.remove()
    assert feats.shape == (2, model.feature_dim) == (2, 2048)
    expected = (pooled[0] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats, with_cams, rtol=0, atol=0)  # not camera-aware


def test_metadata(model):
    assert model.family == "agw" and model.name == NAME
    assert model.camera_aware is False
    assert model.input_size == (256, 128)
    assert model.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.std == pytest.approx((0.229, 0.224, 0.225))
    assert model.get_submodule(model.meta.cam_layer) is model.base.layer4
    assert model.meta.paper == "https://arxiv.org/abs/2001.04193"


def test_a_checkpoint_for_other_identities_loads_without_its_classifier(model):
    other = reid_core.create_model(NAME, num_classes=11).state_dict()
    report = reid_core.load_weights(model, other, drop_classifier=True)
    assert report.ok and report.dropped == ["classifier.weight"]
    with pytest.raises(reid_core.CheckpointError, match="classifier.weight"):
        reid_core.load_weights(model, other)


def test_catalog_and_published_size():
    info = reid_core.model_info(NAME)
    assert info.family == "agw" and info.package == "reid-agw"
    assert {d: w.num_classes for d, w in info.weights.items()} == TRAINING_SETS
    for w in info.weights.values():
        assert w.file_name.startswith(f"{w.dataset}-{NAME}-") and w.file_name.endswith(".pth")
        assert 0 < w.metrics["mAP"] < 1
    assert reid_core.list_models(family="agw", pretrained=True) == [NAME]

    model = reid_core.create_model(NAME, num_classes=1041)
    assert model.state_dict()[info.classifier_key].shape[0] == 1041
    assert human(count_params(model)) == info.published["params"]
    # The published counter also counts norms and activations; ours counts convs and matmuls only.
    published_macs = float(info.published["macs"].rstrip("G")) * 1e9
    assert 0.98 * published_macs < count_macs(model) <= published_macs
