"""The *_pass models: metadata, part tokens, train/eval outputs, input sizes, Grad-CAM, recipes."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.errors import CheckpointError
from reid_core.training.config import default_config, merge_overrides
from reid_core.training.recipes import recipe_for

SMALL = (64, 32)  # a 4x2 patch grid


def small(name, **kw):
    """A 2-block model at 64x32 without stochastic depth: the real code paths, cheap and deterministic."""
    torch.manual_seed(kw.pop("seed", 0))
    kw.setdefault("img_size", SMALL)
    return reid_core.create_model(name, depth=2, drop_path_rate=0.0, **kw)


def images(size=SMALL, n=2, seed=0):
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


def test_metadata():
    expected = {
        "vit_small_pass": (768, (256, 128)),
        "vit_small_384_pass": (768, (384, 128)),
        "vit_base_pass": (1536, (256, 128)),
        "vit_base_384_pass": (1536, (384, 128)),
    }
    assert reid_core.list_models(family="pass") == sorted(expected)
    for name, (dim, size) in expected.items():
        info = reid_core.model_info(name)
        assert (info.feature_dim, info.input_size) == (dim, size)
        assert info.family == "pass" and info.package == "reid-pass"
        assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.5, 0.5, 0.5)
        assert not info.camera_aware and info.classifier_key == "classifier.weight"


def test_builders_default_to_the_published_sizes():
    model = reid_core.create_model("vit_base_384_pass", depth=1)
    assert model.input_size == (384, 128) and model.patch_grid == (24, 8)
    assert model.base.pos_embed.shape == (1, 24 * 8, 768)  # patches only: the leading tokens have their own
    assert model.classifier.weight.shape == (751, 1536)


def test_eval_feature_is_the_class_token_and_the_mean_part_token():
    model = small("vit_small_pass").eval()
    x = images()
    tokens = {}
    model.base.norm.register_forward_hook(lambda m, i, out: tokens.setdefault("normed", out))
    with torch.no_grad():
        feats = model(x)
    normed = tokens["normed"]
    assert normed.shape == (2, 4 + 8, 384)  # cls, three parts, the 4x2 patches
    expected = torch.cat([normed[:, 0], normed[:, 1:4].mean(1)], dim=1)
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-6)


def test_part_tokens_and_their_positions_are_used():
    model = small("vit_small_pass").eval()
    x = images()
    with torch.no_grad():
        before = model(x)
        model.base.part2_pos.add_(torch.randn(1, 1, 384))  # not a constant: LayerNorm would remove it
        moved = model(x)
    assert not torch.allclose(before[:, 384:], moved[:, 384:], atol=1e-4)


def test_train_step_then_eval():
    model = small("vit_base_pass", num_classes=7)
    out = model(images())
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, 1536)

    def bn(neck, f):
        return F.batch_norm(f, None, None, neck.weight.detach(), neck.bias.detach(), training=True)

    with torch.no_grad():  # logits: the class token and each part through its own neck, parts averaged
        cls, p1, p2, p3 = model.base(model.normalize(images()))
        after = torch.cat([bn(model.bottleneck, cls),
                           (bn(model.bottleneck_1, p1) + bn(model.bottleneck_2, p2) + bn(model.bottleneck_3, p3)) / 3], 1)
    expected = after @ model.classifier.weight.detach().T
    torch.testing.assert_close(out["logits"].detach(), expected, rtol=1e-4, atol=1e-5)
    (F.cross_entropy(out["logits"], torch.tensor([1, 5])) + out["features"].pow(2).mean()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("base.fc."):  # the ImageNet head is unused
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        feats = model(images())
    torch.testing.assert_close(feats, out["features"].detach())


def test_camids_are_ignored():
    model = small("vit_small_pass").eval()
    x = images()
    with torch.no_grad():
        plain = model(x)
        torch.testing.assert_close(model(x, camids=torch.tensor([0, 5])), plain)


def test_img_size_interpolates_patch_position_embeddings():
    trained = small("vit_small_pass", img_size=(256, 128))  # a 16x8 grid
    model = small("vit_small_384_pass", img_size=(384, 128))  # 24x8
    sd = trained.state_dict()
    assert reid_core.load_weights(model, sd, strict=True).ok
    grid = sd["base.pos_embed"].reshape(1, 16, 8, 384).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(24, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.base.pos_embed.detach(), resized.flatten(2).transpose(1, 2))
    torch.testing.assert_close(model.base.cls_pos.detach(), sd["base.cls_pos"])


def test_position_embeddings_of_an_unknown_size_are_refused():
    with pytest.raises(CheckpointError, match="8 patch positions"):
        reid_core.load_weights(small("vit_small_pass", img_size=(256, 128)), small("vit_small_pass").state_dict())


def test_other_input_size_without_rebuilding_is_a_clear_error():
    with pytest.raises(ValueError, match=r"img_size=\(96, 32\)"):
        small("vit_small_pass").eval()(images((96, 32)))


def test_cam_layer_tokens_reshape_to_a_map_that_receives_gradient():
    model = small("vit_small_pass").eval()
    assert model.meta.cam_layer == "base.blocks.1.norm1"
    seen = []

    def keep(module, inputs, out):
        out.retain_grad()
        seen.append(out)

    model.get_submodule(model.meta.cam_layer).register_forward_hook(keep)
    model(images())[:, 0].sum().backward()
    fmap, grad = model.reshape_transform(seen[0]), model.reshape_transform(seen[0].grad)
    assert fmap.shape == (2, 384, *model.patch_grid)  # the four leading tokens are dropped
    assert (grad.abs().sum((0, 1)) > 0).all()


def test_recipes_follow_the_upstream_configs():
    for name, size in (("vit_base_pass", [256, 128]), ("vit_small_384_pass", [384, 128])):
        recipe, overrides = recipe_for(name)
        cfg = merge_overrides(default_config(), overrides)
        assert cfg.SOLVER.OPTIM == "SGD" and cfg.SOLVER.BASE_LR == pytest.approx(4e-4)
        assert cfg.SOLVER.WARMUP_EPOCHS == 20 and cfg.SOLVER.MAX_EPOCHS == 120
        assert cfg.LOSS.CE_EPSILON == 0.0 and cfg.LOSS.TRI_MARGIN == 0.0
        assert list(cfg.INPUT.SIZE) == size and list(cfg.MODEL.KWARGS.img_size) == size
        assert cfg.MODEL.PRETRAINED == "lup"
