"""The *_dpr models: registration, train/eval outputs, and sizes against the published ones."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.profile import count_macs, count_params

WITH_WEIGHTS = {"osnet_x1_0_dpr": 512, "osnet_ibn_x1_0_dpr": 512, "osnet_ain_x1_0_dpr": 512, "mlfn_dpr": 1024}
WITHOUT_WEIGHTS = {
    name: 512
    for name in (
        "osnet_x0_75_dpr",
        "osnet_x0_5_dpr",
        "osnet_x0_25_dpr",
        "osnet_ain_x0_75_dpr",
        "osnet_ain_x0_5_dpr",
        "osnet_ain_x0_25_dpr",
    )
}
ALL = {**WITH_WEIGHTS, **WITHOUT_WEIGHTS}

# Params (M, classifier excluded) and GMACs at 256x128 that deep-person-reid's MODEL_ZOO.md
# lists for the widths the seed did not retrain.
DPR_MODEL_ZOO = {
    "osnet_x0_75_dpr": (1.3, 0.57),
    "osnet_x0_5_dpr": (0.6, 0.27),
    "osnet_x0_25_dpr": (0.2, 0.08),
}

SMALL = (64, 32)  # smallest input every model handles; keeps CPU time low


def test_family_registers_exactly_the_dpr_models():
    assert set(reid_core.list_models(family="torchreid")) == set(ALL)
    assert set(reid_core.list_models(family="torchreid", pretrained=True)) == set(WITH_WEIGHTS)


@pytest.mark.parametrize("name", sorted(ALL))
def test_metadata(name):
    info = reid_core.model_info(name)
    assert info.feature_dim == ALL[name]
    assert info.classifier_key == "classifier.weight"
    assert not info.camera_aware
    assert info.paper.startswith("https://arxiv.org/abs/")
    model = reid_core.create_model(name, num_classes=5)
    assert model.classifier_keys == ("classifier.*",)
    assert info.cam_layer in dict(model.named_modules())
    assert model.get_submodule(info.classifier_key.rsplit(".", 1)[0]).out_features == 5


@pytest.mark.parametrize("name", sorted(ALL))
def test_train_step_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=7).train()
    out = model(torch.rand(2, 3, *SMALL))
    assert isinstance(out, tuple) and len(out) == 2
    logits, feats = out
    assert logits.shape == (2, 7)
    assert feats.shape == (2, ALL[name])
    loss = F.cross_entropy(logits, torch.tensor([1, 4])) + feats.pow(2).mean()
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters outside the graph: {no_grad[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(ALL))
def test_eval_returns_features(name):
    torch.manual_seed(0)
    model = reid_core.create_model(name).eval()
    with torch.no_grad():
        feats = model(torch.rand(2, 3, *SMALL))
    assert isinstance(feats, torch.Tensor)
    assert feats.shape == (2, ALL[name]) == (2, model.feature_dim)
    # The embedding ends in a ReLU upstream: features are non-negative.
    assert (feats >= 0).all() and feats.abs().sum() > 0


def test_eval_features_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = reid_core.create_model("osnet_x0_25_dpr").eval()
    x = torch.rand(3, 3, *SMALL)
    with torch.no_grad():
        together = model(x)
        alone = model(x[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=1e-5, atol=1e-6)


def test_osnet_x0_25_trains_at_smaller_inputs():
    torch.manual_seed(0)
    model = reid_core.create_model("osnet_x0_25_dpr", num_classes=4).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.rand(8, 3, 64, 32)
    y = torch.arange(8) % 4
    losses = []
    for _ in range(8):
        opt.zero_grad()
        logits, _ = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # Memorizing 8 images of 4 identities: the loss must collapse (it reaches ~0.02 from ~1.4).
    assert losses[-1] < 0.25 * losses[0], losses


def _millions(text: str) -> float:
    scale = {"K": 1e-3, "M": 1.0, "G": 1e3}[text[-1]]
    return float(text[:-1]) * scale


@pytest.mark.parametrize("name", sorted(WITH_WEIGHTS))
def test_size_matches_the_catalog(name):
    published = reid_core.model_info(name).published
    model = reid_core.create_model(name)
    assert count_params(model) / 1e6 == pytest.approx(_millions(published["params"]), abs=0.0005)
    # The seed counted with thop, which also counts normalization layers; we count convolutions
    # and matmuls only, hence a few percent fewer.
    macs = count_macs(model, (256, 128)) / 1e6
    assert 0.93 * _millions(published["macs"]) <= macs <= _millions(published["macs"])


@pytest.mark.parametrize("name", sorted(DPR_MODEL_ZOO))
def test_small_widths_match_deep_person_reid(name):
    params_m, gmacs = DPR_MODEL_ZOO[name]
    model = reid_core.create_model(name)
    assert round(count_params(model) / 1e6, 1) == params_m
    assert round(count_macs(model, (256, 128)) / 1e9, 2) == gmacs
