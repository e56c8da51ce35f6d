"""The *_transreid models: train/eval outputs, camera awareness, input sizes, Grad-CAM hooks."""

import pytest
import torch
import torch.nn.functional as F

import reid_core
from reid_core.errors import CheckpointError

JPM = ["vit_transreid", "deit_transreid"]
ALL = ["vit_base_transreid", *JPM]
SMALL = (64, 32)  # a 5x2 overlapping-patch grid: small enough for CPU, large enough for the JPM


def small(name, **kw):
    """A 2-block model at 64x32 without stochastic depth: the real code paths, cheap and deterministic."""
    torch.manual_seed(0)
    kw.setdefault("img_size", SMALL)
    return reid_core.create_model(name, depth=2, drop_path_rate=0.0, **kw)


def images(size=SMALL, n=2, seed=0):
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


def test_metadata():
    for name in ALL:
        info = reid_core.model_info(name)
        assert info.family == "transreid" and info.input_size == (256, 128)
        # the seed evaluates these weights with 0.5/0.5 (its models_config.yaml), as TransReID trains
        assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.5, 0.5, 0.5)
    assert reid_core.model_info("vit_base_transreid").feature_dim == 768
    assert not reid_core.model_info("vit_base_transreid").camera_aware
    for name in JPM:
        info = reid_core.model_info(name)
        assert info.feature_dim == 3840 and info.camera_aware and info.camera_key == "base.sie_embed"


def test_train_step_base_then_eval():
    model = small("vit_base_transreid", num_classes=7, with_classifier=True)
    out = model(images())
    assert out["logits"].shape == (2, 7) and out["features"].shape == (2, 768)
    # logits come from the BN-necked class token, the features are the token before the neck
    neck = F.batch_norm(out["features"].detach(), None, None, model.bottleneck.weight.detach(),
                        model.bottleneck.bias.detach(), training=True)
    torch.testing.assert_close(out["logits"].detach(), neck @ model.classifier.weight.detach().T,
                               rtol=1e-4, atol=1e-6)
    (F.cross_entropy(out["logits"], torch.tensor([1, 5])) + out["features"].pow(2).mean()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith("base.fc."):  # the ImageNet head is unused
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert not model.bottleneck.bias.requires_grad  # TransReID freezes the neck's bias
    model.eval()
    with torch.no_grad():
        feats = model(images())
    torch.testing.assert_close(feats, out["features"].detach())  # eval: the token before the neck


def test_train_step_jpm_then_eval():
    model = small("vit_transreid", num_classes=7, camera_num=3, with_classifier=True)
    camids = torch.tensor([0, 2])
    out = model(images(), camids=camids)
    assert len(out["logits"]) == 5 and len(out["features"]) == 5
    assert all(z.shape == (2, 7) for z in out["logits"]) and all(f.shape == (2, 768) for f in out["features"])
    loss = sum(F.cross_entropy(z, torch.tensor([1, 5])) for z in out["logits"])
    (loss + sum(f.pow(2).mean() for f in out["features"])).backward()
    unused = ("base.fc.", "base.norm.", "base.blocks.1.")  # the branches copy the last block, it never runs
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith(unused):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    grad = model.base.sie_embed.grad.abs().sum((1, 2))
    assert grad[0] > 0 and grad[2] > 0 and grad[1] == 0  # only the batch's cameras learn

    model.eval()
    with torch.no_grad():
        feats = model(images(), camids=camids)
    # eval: global feature, then the four local features divided by 4, all before the necks
    expected = torch.cat([out["features"][0]] + [f / 4 for f in out["features"][1:]], 1).detach()
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)


def test_branches_start_as_copies_of_the_last_block():
    model = small("vit_transreid")
    last, norm = model.base.blocks[-1].state_dict(), model.base.norm.state_dict()
    for branch in (model.b1, model.b2):
        assert all(torch.equal(v, last[k]) for k, v in branch[0].state_dict().items())
        assert all(torch.equal(v, norm[k]) for k, v in branch[1].state_dict().items())
    assert model.b1[0].attn.qkv.weight.data_ptr() != model.b2[0].attn.qkv.weight.data_ptr()


def test_train_mode_without_classifier_returns_features_only():
    model = small("vit_transreid")
    out = model(images(), camids=torch.tensor([0, 1]))
    assert out["logits"] is None and len(out["features"]) == 5


@pytest.mark.parametrize("name", JPM)
def test_camids_change_the_features(name):
    model = small(name, camera_num=4).eval()
    x = images()
    with torch.no_grad():
        a = model(x, camids=torch.tensor([0, 1]))
        b = model(x, camids=torch.tensor([3, 1]))
        alone = model(x[:1], camids=torch.tensor([3]))
    assert a.shape == (2, 3840)
    assert not torch.allclose(a[0], b[0], atol=1e-4)  # another camera, another feature
    torch.testing.assert_close(a[1], b[1])  # each image uses its own camid
    torch.testing.assert_close(b[:1], alone, rtol=1e-5, atol=1e-5)


def test_base_ignores_camids():
    model = small("vit_base_transreid").eval()
    x = images()
    with torch.no_grad():
        plain = model(x)
        torch.testing.assert_close(model(x, camids=torch.tensor([0, 5])), plain)
        torch.testing.assert_close(model(x, camids=None), plain)
    assert "sie_embed" not in dict(model.named_parameters())


def test_missing_camids_is_a_clear_error():
    model = small("vit_transreid").eval()
    with pytest.raises(ValueError, match="vit_transreid is camera-aware: pass camids="):
        model(images())


def test_out_of_range_camids_are_refused():
    model = small("vit_transreid", camera_num=6).eval()
    with pytest.raises(ValueError, match="camera_num=6"):
        model(images(), camids=torch.tensor([0, 6]))


def test_camids_none_uses_the_mean_camera_embedding():
    model = small("vit_transreid", camera_num=3).eval()
    x = images()
    with torch.no_grad():
        unknown = model(x, camids=None)
        known = model(x, camids=torch.tensor([0, 0]))
        model.base.sie_embed.copy_(model.base.sie_embed.mean(0, keepdim=True).expand_as(model.base.sie_embed))
        averaged = model(x, camids=torch.tensor([0, 0]))
    assert not torch.allclose(unknown, known, atol=1e-4)
    torch.testing.assert_close(unknown, averaged)


def test_camera_num_default_and_catalog_sizes():
    assert small("vit_transreid").base.sie_embed.shape == (6, 1, 768)  # create_model's default: Market-1501
    assert small("deit_transreid", camera_num=15).base.sie_embed.shape == (15, 1, 768)


def test_classifier_is_opt_in_and_checkpoints_load_either_way():
    plain = small("vit_transreid", num_classes=9)
    trained = small("vit_transreid", num_classes=9, with_classifier=True)
    heads = {"classifier.weight", *(f"classifier_{i}.weight" for i in range(1, 5))}
    assert heads.isdisjoint(plain.state_dict()) and heads <= set(trained.state_dict())
    assert trained.classifier.weight.shape == (9, 768)
    # a published (classifier-free) file into a training model, and a training file into an eval model
    report = reid_core.load_weights(trained, plain.state_dict(), drop_classifier=True)
    assert report.ok and not report.missing
    report = reid_core.load_weights(plain, trained.state_dict())
    assert report.ok and sorted(report.dropped) == sorted(heads)


def test_img_size_interpolates_position_embeddings():
    trained = small("vit_transreid", img_size=(256, 128))  # the checkpoints' size: a 21x10 grid
    model = small("vit_transreid", img_size=(112, 44))  # a 9x3 grid (an odd count: the shuffle pads)
    assert model.input_size == (112, 44) and model.patch_grid == (9, 3)
    sd = trained.state_dict()
    report = reid_core.load_weights(model, sd, strict=True)
    assert report.ok
    pos = sd["base.pos_embed"]
    grid = pos[:, 1:].reshape(1, 21, 10, 768).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(9, 3), mode="bilinear", align_corners=False)
    expected = torch.cat([pos[:, :1], resized.flatten(2).transpose(1, 2)], 1)
    torch.testing.assert_close(model.base.pos_embed.detach(), expected)
    model.eval()
    with torch.no_grad():
        assert model(images((112, 44)), camids=torch.tensor([0, 1])).shape == (2, 3840)


def test_position_embeddings_of_an_unknown_size_are_refused():
    model = small("vit_transreid", img_size=(112, 44))
    with pytest.raises(CheckpointError, match="10 patch positions"):
        reid_core.load_weights(model, small("vit_transreid").state_dict())


def test_other_input_size_without_rebuilding_is_a_clear_error():
    model = small("vit_base_transreid").eval()
    with pytest.raises(ValueError, match=r"img_size=\(96, 32\)"):
        model(images((96, 32)))


@pytest.mark.parametrize("name", ["vit_base_transreid", "vit_transreid"])
def test_cam_layer_tokens_reshape_to_a_map_that_receives_gradient(name):
    model = small(name).eval()
    # the registered layer is that of the 12-block model; a 2-block build names its own
    full = {"vit_base_transreid": "base.blocks.11.norm1", "vit_transreid": "base.blocks.10"}[name]
    assert reid_core.model_info(name).cam_layer == full
    assert model.meta.cam_layer == full.replace("11", "1").replace("10", "0")
    seen = []

    def keep(module, inputs, out):
        out.retain_grad()
        seen.append(out)

    model.get_submodule(model.meta.cam_layer).register_forward_hook(keep)
    x = images()
    feats = model(x, camids=torch.tensor([0, 1])) if model.camera_aware else model(x)
    feats[:, 0].sum().backward()
    assert len(seen) == 1  # one call per forward: the hooks of Grad-CAM see one activation
    fmap = model.reshape_transform(seen[0])
    grad = model.reshape_transform(seen[0].grad)
    assert fmap.shape == (2, 768, *model.patch_grid)
    assert (grad.abs().sum((0, 1)) > 0).all()  # every patch position contributes


def test_vit_base_size_matches_the_published_one():
    from reid_core.profile import count_macs, count_params

    model = reid_core.create_model("vit_base_transreid")
    # The seed's counter sees module parameters that run: not the unused ImageNet head
    # (base.fc) nor the bare cls_token/pos_embed. Counted the same way, the figure is exact.
    unseen = sum(p.numel() for n, p in model.named_parameters()
                 if n.startswith("base.fc.") or n in ("base.cls_token", "base.pos_embed"))
    assert count_params(model) - unseen == 85_648_128  # published: 85.648M
    assert count_macs(model) == pytest.approx(11.042e9, rel=5e-3)  # published: 11.042G
