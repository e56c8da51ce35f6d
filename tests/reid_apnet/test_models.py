"""resnet50_ap: the attention pyramid, training/eval outputs, metadata, catalog and size."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_apnet.attention import SAMS
from reid_core.profile import count_macs, count_params, human

NAME = "resnet50_ap"
TRAINING_SETS = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}


def small_batch(seed: int = 0) -> torch.Tensor:
    # 64x32 keeps CPU time low: layer4 (last stride 1) still gets a 4x2 map.
    return torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return reid_core.create_model(NAME, num_classes=7)


def test_train_step_reaches_every_pyramid_level(model):
    model.train()
    model.zero_grad()
    cls_score, global_feat = model(small_batch())
    assert cls_score.shape == (2, 7) and global_feat.shape == (2, 2048)
    assert torch.isfinite(cls_score).all() and torch.isfinite(global_feat).all()
    loss = F.cross_entropy(cls_score, torch.tensor([0, 6])) + global_feat.pow(2).mean()
    loss.backward()
    for i in range(1, 6):
        assert getattr(model, f"att{i}").fc[0].weight.grad.abs().sum() > 0
        assert getattr(model, f"att_s{i}").fc2.weight.grad.abs().sum() > 0
        bn = getattr(model, f"BN{i}").bottleneck2
        assert bn.weight.grad.abs().sum() > 0 and bn.bias.grad is None  # shift frozen, as upstream
    assert model.base.conv1.weight.grad.abs().sum() > 0
    assert model.bottleneck.bias.grad is None


def test_the_stage_views_share_the_trunk(model):
    # Upstream keeps the trunk under `base` and `base_1..5`; they must be one set of weights.
    assert model.base_1[0] is model.base.conv1 and model.base_1[1] is model.base.bn1
    assert model.base_2[0] is model.base.layer1 and model.base_5[0] is model.base.layer4
    sd = model.state_dict()
    assert sd["base_3.0.0.conv1.weight"].data_ptr() == sd["base.layer2.0.conv1.weight"].data_ptr()
    unique = {id(p) for p in model.parameters()}
    assert len(unique) == len(list(model.parameters()))


def test_eval_returns_bnneck_features(model):
    model.eval()
    bn = model.bottleneck
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5, generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)
    pooled = []
    handle = model.gap.register_forward_hook(lambda mod, args, out: pooled.append(out.flatten(1)))
    try:
        with torch.no_grad():
            feats = model(small_batch(1))
    finally:
        handle.remove()
    assert feats.shape == (2, model.feature_dim) == (2, 2048)
    expected = (pooled[0] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)


def test_sams_weights_each_channel_group_by_a_softmax_across_groups():
    torch.manual_seed(0)
    sams = SAMS(64, 32, radix=2).eval()
    x = torch.randn(2, 64, 4, 3)
    with torch.no_grad():
        sams.fc2.weight.zero_()
        sams.fc2.bias.zero_()
        # equal logits: every channel of both groups gets 1/2
        torch.testing.assert_close(sams(x), x / 2)
        # a large logit for group 0 on channel 5 only: that channel passes whole, its twin is muted
        sams.fc2.bias[5] = 50.0
        y = sams(x)
    torch.testing.assert_close(y[:, 5], x[:, 5])
    torch.testing.assert_close(y[:, 32 + 5], torch.zeros_like(x[:, 37]), atol=1e-12, rtol=0)
    others = [c for c in range(64) if c not in (5, 37)]
    torch.testing.assert_close(y[:, others], x[:, others] / 2)


def test_pyramid_levels():
    level1 = reid_core.create_model(NAME, num_classes=3, level=1)
    keys = level1.state_dict().keys()
    assert "att3.fc.0.weight" in keys and not any(k.startswith(("att_s", "BN")) for k in keys)
    with pytest.raises(ValueError, match="levels 0 to 2"):
        reid_core.create_model(NAME, num_classes=3, level=3)


def test_metadata(model):
    assert model.family == "apnet" and model.name == NAME
    assert model.camera_aware is False and model.input_size == (256, 128)
    assert model.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.std == pytest.approx((0.229, 0.224, 0.225))
    assert model.get_submodule(model.meta.cam_layer) is model.base.layer4
    assert model.meta.paper == "https://arxiv.org/abs/2108.05340"
    assert reid_core.list_models(family="apnet", pretrained=True) == [NAME]


def test_catalog_and_published_size():
    info = reid_core.model_info(NAME)
    assert info.family == "apnet" and info.package == "reid-apnet"
    assert {d: w.num_classes for d, w in info.weights.items()} == TRAINING_SETS
    for w in info.weights.values():
        assert w.file_name.startswith(f"{w.dataset}-{NAME}-") and w.file_name.endswith(".pth")
        assert 0 < w.metrics["mAP"] < 1

    model = reid_core.create_model(NAME, num_classes=1041)
    assert model.state_dict()[info.classifier_key].shape[0] == 1041
    # The published count has the trunk twice (it is registered as `base` and as `base_1..5`).
    trunk = sum(p.numel() for p in model.base.parameters())
    assert human(count_params(model) + trunk) == info.published["params"]
    # The published MACs (16.357G) count the shared trunk more than once too; an eval pass is a
    # ResNet-50 (last stride 1) plus the small attention layers.
    macs = count_macs(model)
    assert 4.0e9 < macs < 4.2e9
