"""The *_bot models: training/eval outputs, metadata, catalog and sizes against the published ones."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.profile import count_macs, count_params, human

PUBLISHED = ["resnet50_bot", "resnet50_ibn_a_bot", "se_resnet50_bot", "se_resnext50_bot", "senet154_bot"]
EXTRA_DEPTHS = ["resnet18_bot", "resnet34_bot", "resnet101_bot", "resnet152_bot",
                "se_resnet101_bot", "se_resnet152_bot", "se_resnext101_bot"]
TRAINING_SETS = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}


def small_batch(seed: int = 0) -> torch.Tensor:
    # 32x16 keeps CPU time low; every backbone still ends with a 2x1 layer4 map, enough for
    # batch norm in training mode.
    return torch.rand(2, 3, 32, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", PUBLISHED)
def test_train_step_then_eval(name):
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=7)
    assert model.training
    x = small_batch()
    cls_score, global_feat = model(x)
    assert cls_score.shape == (2, 7)
    assert global_feat.shape == (2, 2048)

    # The logits come from the BNNeck feature, the second output is the pooled one before it.
    neck = F.batch_norm(global_feat.detach(), None, None, model.bottleneck.weight.detach(),
                        model.bottleneck.bias.detach(), training=True)
    torch.testing.assert_close(cls_score.detach(), neck @ model.classifier.weight.detach().T,
                               rtol=1e-4, atol=1e-6)

    loss = F.cross_entropy(cls_score, torch.tensor([1, 5])) + global_feat.pow(2).mean()
    loss.backward()
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
    assert model.bottleneck.weight.grad is not None
    assert model.bottleneck.bias.grad is None  # BNNeck: the shift is frozen
    first_conv = next(m for m in model.base.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        feats = model(x)
        with_cams = model(x, camids=torch.tensor([0, 3]))
    assert feats.shape == (2, model.feature_dim) == (2, 2048)
    assert torch.isfinite(feats).all()
    torch.testing.assert_close(feats, with_cams, rtol=0, atol=0)  # not camera-aware: camids ignored

    assert model.family == "bot"
    assert model.name == name
    assert model.camera_aware is False
    assert model.input_size == (256, 128)
    assert model.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.std == pytest.approx((0.229, 0.224, 0.225))
    assert isinstance(model.get_submodule(model.meta.cam_layer), torch.nn.Sequential)
    assert model.meta.paper == "https://arxiv.org/abs/1903.07071"


def test_eval_feature_is_taken_after_the_bnneck():
    model = reid_core.create_model("resnet50_bot", num_classes=5).eval()
    gen = torch.Generator().manual_seed(1)
    bn = model.bottleneck
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5, generator=gen)
        bn.running_var.uniform_(0.5, 2.0, generator=gen)
        bn.weight.uniform_(0.5, 1.5, generator=gen)
    pooled = []
    model.gap.register_forward_hook(lambda mod, args, out: pooled.append(out.flatten(1)))
    with torch.no_grad():
        feats = model(small_batch())
    expected = (pooled[0] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18_bot", "resnet34_bot"])
def test_basic_block_depths_give_512_features(name):
    model = reid_core.create_model(name, num_classes=3).eval()
    with torch.no_grad():
        assert model(small_batch()).shape == (2, 512) == (2, model.feature_dim)


def test_family_lists_published_and_extra_depths():
    assert reid_core.list_models(family="bot", pretrained=True) == sorted(PUBLISHED)
    assert reid_core.list_models(family="bot", pretrained=False) == sorted(EXTRA_DEPTHS)


@pytest.mark.parametrize("name", PUBLISHED)
def test_catalog_and_published_size(name):
    info = reid_core.model_info(name)
    assert info.family == "bot" and info.package == "reid-bot"
    assert {d: w.num_classes for d, w in info.weights.items()} == TRAINING_SETS
    for w in info.weights.values():
        assert w.url.startswith("https://") and w.file_name.endswith(".pth")
        assert w.file_name.startswith(f"{w.dataset}-{name}-")
        assert 0 < w.metrics["mAP"] < 1

    # On the meta device nothing is allocated or computed, yet shapes and MAC counts are exact.
    with torch.device("meta"):
        model = reid_core.create_model(name, num_classes=TRAINING_SETS["msmt17"])
    assert model.state_dict()[info.classifier_key].shape[0] == 1041

    # The published count leaves out the classifier and the ImageNet fc that IBN-a keeps unused.
    unused_fc = sum(p.numel() for n, p in model.named_parameters() if n.startswith("base.fc."))
    assert human(count_params(model) - unused_fc) == info.published["params"]
    # The published MACs come from a counter that also counts norms and activations; ours counts
    # convolutions and matmuls only, hence a small, one-sided gap.
    published_macs = float(info.published["macs"].rstrip("G")) * 1e9
    macs = count_macs(model)
    assert 0.98 * published_macs < macs <= published_macs


@pytest.mark.parametrize("name", ["resnet18_bot", "se_resnet50_bot"])
def test_last_stride_sets_the_final_map_size(name):
    x = torch.rand(1, 3, 64, 32)
    sizes = {}
    for stride in (1, 2):
        model = reid_core.create_model(name, num_classes=3, last_stride=stride).eval()
        with torch.no_grad():
            sizes[stride] = tuple(model.base(x).shape[-2:])
    assert sizes == {1: (4, 2), 2: (2, 1)}


def test_unknown_builder_option_is_an_error():
    with pytest.raises(TypeError, match="neck_feat"):
        reid_core.create_model("resnet50_bot", neck_feat="before")
