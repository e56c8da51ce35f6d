"""The *_transreid_ssl models: metadata, train/eval outputs, the ICS stem, input sizes, Grad-CAM, recipes."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.errors import CheckpointError
from reid_core.nn import IBN
from reid_core.training.config import default_config, merge_overrides
from reid_core.training.recipes import recipe_for

ALL = ["vit_small_transreid_ssl", "vit_small_ics_transreid_ssl", "vit_base_ics_transreid_ssl"]
SMALL = (64, 32)  # a 4x2 patch grid


def small(name, **kw):
    """A 2-block model at 64x32 without stochastic depth: the real code paths, cheap and deterministic."""
    torch.manual_seed(0)
    kw.setdefault("img_size", SMALL)
    return reid_core.create_model(name, depth=2, drop_path_rate=0.0, **kw)


def images(size=SMALL, n=2, seed=0):
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


def test_metadata():
    expected = {
        "vit_small_transreid_ssl": (384, (256, 128)),
        "vit_small_ics_transreid_ssl": (384, (256, 128)),
        "vit_base_ics_transreid_ssl": (768, (384, 128)),
    }
    assert reid_core.list_models(family="transreid-ssl") == sorted(expected)
    for name, (dim, size) in expected.items():
        info = reid_core.model_info(name)
        assert (info.feature_dim, info.input_size) == (dim, size)
        assert info.family == "transreid-ssl" and info.package == "reid-transreid-ssl"
        assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.5, 0.5, 0.5)
        assert not info.camera_aware and info.classifier_key == "classifier.weight"


def test_builders_default_to_the_published_sizes():
    model = reid_core.create_model("vit_base_ics_transreid_ssl", depth=1)
    assert model.input_size == (384, 128) and model.patch_grid == (24, 8)
    assert model.base.pos_embed.shape == (1, 1 + 24 * 8, 768)
    assert model.classifier.weight.shape == (751, 768)  # the checkpoints carry it: always built


def test_train_step_then_eval():
    model = small("vit_small_transreid_ssl", num_classes=7)
    out = model(images())
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, 384)
    # logits come from the BN-necked class token, the features are the token before the neck
    neck = F.batch_norm(out["features"].detach(), None, None, model.bottleneck.weight.detach(),
                        model.bottleneck.bias.detach(), training=True)
    torch.testing.assert_close(out["logits"].detach(), neck @ model.classifier.weight.detach().T,
                               rtol=1e-4, atol=1e-6)
    (F.cross_entropy(out["logits"], torch.tensor([1, 5])) + out["features"].pow(2).mean()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("base.fc."):  # the ImageNet head is unused
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert not model.bottleneck.bias.requires_grad  # the neck's shift stays at zero, as upstream
    model.eval()
    with torch.no_grad():
        feats = model(images())
    torch.testing.assert_close(feats, out["features"].detach())  # eval: the token before the neck


def test_ics_stem_layout():
    model = small("vit_small_ics_transreid_ssl")
    conv = model.base.patch_embed.conv
    assert [type(m).__name__ for m in conv] == ["Conv2d", "IBN", "ReLU", "Conv2d", "IBN", "ReLU",
                                                "Conv2d", "BatchNorm2d", "ReLU"]
    assert conv[0].stride == (2, 2) and conv[0].kernel_size == (7, 7) and conv[0].bias is None
    assert isinstance(conv[1], IBN) and conv[1].IN.num_features == 32 and conv[1].BN.num_features == 32
    proj = model.base.patch_embed.proj
    assert proj.in_channels == 64 and proj.kernel_size == (8, 8) and proj.stride == (8, 8)
    # the stem halves the image and the projection takes 8x8 patches: the plain model's 16x16 grid
    assert model.patch_grid == small("vit_small_transreid_ssl").patch_grid == (4, 2)
    assert not any(k.startswith("base.patch_embed.conv") for k in small("vit_small_transreid_ssl").state_dict())


def test_camids_are_ignored():
    model = small("vit_small_ics_transreid_ssl").eval()
    x = images()
    with torch.no_grad():
        plain = model(x)
        torch.testing.assert_close(model(x, camids=torch.tensor([0, 5])), plain)
        torch.testing.assert_close(model(x, camids=None), plain)


def test_img_size_interpolates_position_embeddings():
    trained = small("vit_small_transreid_ssl", img_size=(256, 128))  # a 16x8 grid
    model = small("vit_small_transreid_ssl", img_size=(384, 128))  # 24x8
    sd = trained.state_dict()
    assert reid_core.load_weights(model, sd, strict=True).ok
    pos = sd["base.pos_embed"]
    grid = pos[:, 1:].reshape(1, 16, 8, 384).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(24, 8), mode="bilinear", align_corners=False)
    expected = torch.cat([pos[:, :1], resized.flatten(2).transpose(1, 2)], 1)
    torch.testing.assert_close(model.base.pos_embed.detach(), expected)


def test_position_embeddings_of_an_unknown_size_are_refused():
    with pytest.raises(CheckpointError, match="8 patch positions"):
        reid_core.load_weights(small("vit_small_transreid_ssl", img_size=(256, 128)),
                               small("vit_small_transreid_ssl").state_dict())


def test_other_input_size_without_rebuilding_is_a_clear_error():
    model = small("vit_small_ics_transreid_ssl").eval()
    with pytest.raises(ValueError, match=r"img_size=\(96, 32\)"):
        model(images((96, 32)))


def test_checkpoints_of_other_identities_load_without_the_classifier():
    msmt = small("vit_small_transreid_ssl", num_classes=1041).state_dict()
    model = small("vit_small_transreid_ssl", num_classes=5)
    with pytest.raises(CheckpointError, match="classifier.weight"):
        reid_core.load_weights(model, msmt)
    report = reid_core.load_weights(model, msmt, drop_classifier=True)
    assert report.ok and report.dropped == ["classifier.weight"]


@pytest.mark.parametrize("name", ["vit_small_transreid_ssl", "vit_small_ics_transreid_ssl"])
def test_cam_layer_tokens_reshape_to_a_map_that_receives_gradient(name):
    model = small(name).eval()
    assert reid_core.model_info(name).cam_layer == "base.blocks.11.norm1"
    assert model.meta.cam_layer == "base.blocks.1.norm1"  # a 2-block build names its own
    seen = []

    def keep(module, inputs, out):
        out.retain_grad()
        seen.append(out)

    model.get_submodule(model.meta.cam_layer).register_forward_hook(keep)
    model(images())[:, 0].sum().backward()
    fmap, grad = model.reshape_transform(seen[0]), model.reshape_transform(seen[0].grad)
    assert fmap.shape == (2, 384, *model.patch_grid)
    assert (grad.abs().sum((0, 1)) > 0).all()  # every patch position contributes


def test_recipes_follow_the_upstream_configs():
    for name, size in (("vit_small_transreid_ssl", [256, 128]), ("vit_base_ics_transreid_ssl", [384, 128])):
        recipe, overrides = recipe_for(name)
        cfg = merge_overrides(default_config(), overrides)  # every key is a known one
        assert cfg.SOLVER.OPTIM == "SGD" and cfg.SOLVER.BASE_LR == pytest.approx(4e-4)
        assert cfg.SOLVER.WARMUP_EPOCHS == 20 and cfg.SOLVER.MAX_EPOCHS == 120
        assert cfg.LOSS.CE_EPSILON == 0.0 and cfg.LOSS.TRI_MARGIN == 0.0
        assert list(cfg.INPUT.SIZE) == size and list(cfg.MODEL.KWARGS.img_size) == size
        assert cfg.MODEL.PRETRAINED == "lup"
