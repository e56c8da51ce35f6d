"""Every *_fastreid model builds, runs forward and backward in train mode, and has the recipe's head."""

import pytest
import torch

import reid_core
from reid_fastreid.heads import EmbeddingHead, circle_margin_logits
from reid_fastreid.meta_arch import MGN, Baseline
from reid_fastreid.models import BACKBONES, MODELS, model_name

NAMES = [model_name(*combo) for combo in MODELS]
NUM_CLASSES = 5

# The smallest inputs each network accepts, to keep CPU time low: the Inception stems need about
# 75 pixels on each side, DenseNet's last transition a 2x2 map, MGN at least 3 rows of its
# stride-16 map to cut 3 stripes.
INPUT_SIZES = {"inception_v3": (80, 80), "inception_v4": (80, 80), "inception_resnet_v2": (80, 80),
               "densenet121": (64, 32)}


def _input_size(arch: str, backbone: str) -> tuple[int, int]:
    if arch == "mgn":
        return (48, 16)
    return INPUT_SIZES.get(backbone, (32, 16))


def test_all_33_models_are_registered():
    assert len(NAMES) == len(set(NAMES)) == 33
    assert sorted(reid_core.list_models(family="fastreid")) == sorted(NAMES)


@pytest.mark.parametrize("combo", MODELS, ids=NAMES)
def test_train_forward_backward_and_eval(combo):
    arch, recipe, backbone = combo
    name = model_name(*combo)
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=NUM_CLASSES)
    assert isinstance(model, MGN if arch == "mgn" else Baseline)
    assert model.training
    x = torch.rand(2, 3, *_input_size(arch, backbone))

    out = model(x)
    logits, features = out["logits"], out["features"]
    if arch == "mgn":
        assert len(logits) == len(features) == 8
    else:
        logits, features = [logits], [features]
    head = model.b1_head if arch == "mgn" else model.heads
    # SBS trains its metric loss on the BNNeck output, the others on the pooled backbone feature.
    feat_dim = head.embedding_dim if recipe == "sbs" else BACKBONES[backbone][1]
    for lg, ft in zip(logits, features):
        assert lg.shape == (2, NUM_CLASSES)
        assert ft.shape == (2, feat_dim)
        assert torch.isfinite(lg).all() and torch.isfinite(ft).all()

    loss = sum(lg.logsumexp(1).mean() for lg in logits) + sum(ft.pow(2).mean() for ft in features)
    loss.backward()
    without_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not without_grad, f"parameters the training pass does not reach: {without_grad[:5]}"
    stem = next(p for n, p in model.named_parameters() if n.startswith("backbone."))
    assert stem.grad.abs().sum() > 0 and head.weight.grad.abs().sum() > 0
    assert head.bottleneck[-1].bias.grad is None  # the BNNeck's shift is frozen

    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, model.feature_dim)

    if backbone in TRUNKS:
        assert params_as_published(model) == pytest.approx(published_params(name), abs=500)


# The seed's published counts leave out the training classifier and every BatchNorm (its counting
# tool skips them) and are rounded to thousands. Its figures for the timm/light backbones follow
# other rules and are only reported, not checked.
TRUNKS = {"R50", "R50_ibn", "R101_ibn", "SeR50", "S50", "S50_ibn"}


def published_params(name: str) -> float:
    text = reid_core.model_info(name).published["params"]
    assert text.endswith("M"), text
    return float(text[:-1]) * 1e6


def params_as_published(model: torch.nn.Module) -> int:
    batchnorm = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                    for p in m.parameters(recurse=False))
    classifier = sum(p.numel() for n, p in model.named_parameters() if n.endswith(("_head.weight", "heads.weight")))
    return sum(p.numel() for p in model.parameters()) - batchnorm - classifier


def test_recipes_set_the_heads():
    bag = reid_core.create_model("bagtricks_R50_fastreid", num_classes=3).heads
    agw = reid_core.create_model("agw_R50_fastreid", num_classes=3)
    sbs = reid_core.create_model("sbs_R50_fastreid", num_classes=3)
    assert isinstance(bag.pool_layer, torch.nn.AdaptiveAvgPool2d)
    assert not agw.heads.pool_layer.learnable and agw.heads.pool_layer.p == 3.0
    assert "heads.pool_layer.p" not in agw.state_dict()
    assert sbs.heads.pool_layer.learnable and "heads.pool_layer.p" in dict(sbs.named_parameters())
    assert (bag.neck_feat, bag.classifier) == ("before", "linear")
    assert (sbs.heads.neck_feat, sbs.heads.classifier, sbs.heads.scale) == ("after", "circle", 64.0)
    # AGW and SBS add non-local blocks after the last 2 blocks of layer2 and the last 3 of layer3.
    for model in (agw, sbs):
        assert len(model.backbone.NL_2) == 2 and len(model.backbone.NL_3) == 3
    assert not hasattr(reid_core.create_model("bagtricks_R50_fastreid", num_classes=3).backbone, "NL_2")


def test_s50_ibn_is_structurally_s50():
    plain = reid_core.create_model("mgn_S50_fastreid", num_classes=3).state_dict()
    ibn = reid_core.create_model("mgn_S50_ibn_fastreid", num_classes=3).state_dict()
    assert {k: v.shape for k, v in plain.items()} == {k: v.shape for k, v in ibn.items()}
    assert "IBN" in reid_core.model_info("mgn_S50_ibn_fastreid").notes


def test_circle_head_logits_are_scaled_cosines():
    head = EmbeddingHead(4, 3, classifier="circle", scale=10.0).train()
    feats = torch.rand(2, 4, 2, 2) + 0.1
    logits = head(feats)["logits"]
    assert logits.abs().max() <= 10.0 + 1e-5
    neck = head.bottleneck(feats.mean((2, 3), keepdim=True))[..., 0, 0]
    expected = 10.0 * torch.nn.functional.cosine_similarity(neck[:, None], head.weight[None], dim=2)
    torch.testing.assert_close(logits, expected)


def test_circle_margin_logits_by_hand():
    # scale 2, margin 0.25; cos 0.5 for the target class, 0.2 for the other:
    # target: (1 + 0.25 - 0.5) * (0.5 - 0.75) * 2 = -0.375; other: (0.2 + 0.25) * (0.2 - 0.25) * 2 = -0.045
    logits = torch.tensor([[1.0, 0.4]])
    out = circle_margin_logits(logits, torch.tensor([0]), scale=2.0, margin=0.25)
    torch.testing.assert_close(out, torch.tensor([[-0.375, -0.045]]))


def test_mgn_rejects_maps_too_short_for_three_stripes():
    model = reid_core.create_model("mgn_R50_fastreid", num_classes=3).eval()
    with pytest.raises(ValueError, match="stripes"):
        model(torch.rand(1, 3, 64, 32))  # a 4-row map: torch.chunk gives 2 pieces, not 3


def test_mgn_eval_feature_is_the_eight_heads_in_order():
    torch.manual_seed(0)
    model = reid_core.create_model("mgn_R50_fastreid", num_classes=3).eval()
    x = torch.rand(1, 3, 96, 32)
    with torch.no_grad():
        y = model(x)
        shared = model.backbone(model.normalize(x))
        thirds = torch.chunk(model.b3(shared), 3, dim=2)
        b33 = model.b33_head(thirds[2])
        b1 = model.b1_head(model.b1(shared))
    torch.testing.assert_close(y[:, :256], b1)
    torch.testing.assert_close(y[:, -256:], b33)
