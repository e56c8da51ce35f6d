"""The *_clipreid models: registration, shapes, camera embedding, build options and errors."""

from __future__ import annotations

import pytest
import reid_core
import torch

from reid_clipreid import CLIPReID

SMALL = (64, 32)


def test_registered_with_metadata_and_normalization():
    assert set(reid_core.list_models("*_clipreid")) == {"vit_b16_clipreid", "vit_b16_sie_olp_clipreid", "rn50_clipreid"}
    vit = reid_core.model_info("vit_b16_clipreid")
    assert (vit.feature_dim, vit.input_size, vit.mean, vit.camera_aware) == (1280, (256, 128), (0.5,) * 3, False)
    sie = reid_core.model_info("vit_b16_sie_olp_clipreid")
    assert sie.camera_aware and sie.camera_key == "cv_embed" and sie.feature_dim == 1280
    rn = reid_core.model_info("rn50_clipreid")
    assert rn.feature_dim == 3072 and rn.mean == pytest.approx((0.485, 0.456, 0.406))


@pytest.mark.parametrize(
    ("name", "pos", "pos_shape"),
    [
        ("vit_b16_clipreid", "image_encoder.positional_embedding", (129, 768)),  # 16 x 8 patches
        ("vit_b16_sie_olp_clipreid", "image_encoder.positional_embedding", (211, 768)),  # stride 12: 21 x 10
        ("rn50_clipreid", "image_encoder.attnpool.positional_embedding", (129, 2048)),  # last stage stride 1: 16 x 8
    ],
)
def test_inference_model_has_the_image_side_only(name, pos, pos_shape):
    model = reid_core.create_model(name)
    sd = model.state_dict()
    assert tuple(sd[pos].shape) == pos_shape
    assert not any(k.startswith(("text_encoder", "prompt_learner", "classifier", "bottleneck")) for k in sd)
    assert ("cv_embed" in sd) == (name == "vit_b16_sie_olp_clipreid")


def test_features_concatenate_the_class_token_and_its_projection():
    torch.manual_seed(0)
    model = reid_core.create_model("vit_b16_clipreid", depth=2, img_size=SMALL).eval()
    x = torch.rand(2, 3, *SMALL)
    with torch.no_grad():
        y = model(x)
        enc = model.image_encoder
        _, last = enc.tokens(model.normalize(x))
    assert y.shape == (2, 1280)
    torch.testing.assert_close(y[:, :768], last[:, 0])
    torch.testing.assert_close(y[:, 768:], last[:, 0] @ enc.proj)


def test_camera_embedding_goes_to_the_class_token_with_coefficient():
    torch.manual_seed(0)
    model = reid_core.create_model("vit_b16_sie_olp_clipreid", camera_num=3, depth=2, img_size=SMALL, sie_coe=2.0).eval()
    x = torch.rand(1, 3, *SMALL)
    with torch.no_grad():
        a, b = model(x, camids=[0]), model(x, camids=[2])
        assert not torch.allclose(a, b)
        # camera 2 at coefficient 2 is camera 0 with cv_embed[0] replaced by cv_embed[2]
        model.cv_embed[0] = model.cv_embed[2]
        torch.testing.assert_close(model(x, camids=[0]), b)
        # unknown camera: the mean embedding
        mean = model.cv_embed.mean(0)
        unknown = model(x, camids=None)
        model.cv_embed[1] = mean
        torch.testing.assert_close(unknown, model(x, camids=[1]))
    with pytest.raises(ValueError, match="camera-aware"):
        model(x)
    with pytest.raises(ValueError, match=r"camids must lie in \[0, 2\]"):
        model(x, camids=[3])


def test_models_without_cameras_ignore_camids():
    torch.manual_seed(0)
    model = reid_core.create_model("vit_b16_clipreid", depth=2, img_size=SMALL).eval()
    x = torch.rand(2, 3, *SMALL)
    with torch.no_grad():
        torch.testing.assert_close(model(x, camids=[0, 5]), model(x))


def test_rn50_feature_is_pooled_map_and_attention_pool():
    torch.manual_seed(0)
    model = reid_core.create_model("rn50_clipreid", img_size=SMALL).eval()
    with torch.no_grad():
        y = model(torch.rand(2, 3, *SMALL))
    assert y.shape == (2, 3072) and model.patch_grid == (4, 2)


def test_training_stages_build_clipreids_full_key_set():
    model = reid_core.create_model("vit_b16_sie_olp_clipreid", num_classes=10, camera_num=4, stage=2, depth=2,
                                   text_depth=1, img_size=SMALL)
    sd = model.state_dict()
    assert sd["prompt_learner.cls_ctx"].shape == (10, 4, 512)
    assert sd["prompt_learner.token_prefix"].shape == (1, 5, 512) and sd["prompt_learner.token_suffix"].shape == (1, 68, 512)
    assert sd["classifier.weight"].shape == (10, 768) and sd["classifier_proj.weight"].shape == (10, 512)
    assert sd["text_encoder.text_projection"].shape == (512, 512) and sd["cv_embed"].shape == (4, 768)
    rn = reid_core.create_model("rn50_clipreid", num_classes=10, stage=1, text_depth=1, img_size=SMALL)
    assert rn.state_dict()["text_encoder.text_projection"].shape == (512, 1024)
    # stage 1 trains the prompts only
    assert [n for n, p in rn.named_parameters() if p.requires_grad] == ["prompt_learner.cls_ctx"]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="stage must be"):
        CLIPReID(10, stage=3)
    with pytest.raises(ValueError, match="backbone must be"):
        CLIPReID(10, backbone="vit_l14")
    with pytest.raises(ValueError, match="camera_num must be 0"):
        CLIPReID(10, backbone="rn50", camera_num=6)
    with pytest.raises(ValueError, match="multiples of 16"):
        CLIPReID(10, backbone="rn50", img_size=(250, 128))
    with pytest.raises(ValueError, match="depth applies to the ViT"):
        reid_core.create_model("rn50_clipreid", depth=2)
    model = reid_core.create_model("vit_b16_clipreid", depth=2, img_size=SMALL).train()
    with pytest.raises(RuntimeError, match="stage=1 or stage=2"):
        model(torch.rand(2, 3, *SMALL))
    staged = reid_core.create_model("vit_b16_clipreid", num_classes=4, stage=1, depth=2, text_depth=1, img_size=SMALL)
    with pytest.raises(ValueError, match="needs the identity labels"):
        staged.train()(torch.rand(2, 3, *SMALL))


def test_grad_cam_layout_of_the_vit_tokens():
    model = reid_core.create_model("vit_b16_sie_olp_clipreid", depth=2, img_size=SMALL)
    tokens = torch.arange(1 + 5 * 2, dtype=torch.float).view(1, -1, 1)  # grid of (64-16)//12+1 x (32-16)//12+1
    assert model.patch_grid == (5, 2)
    cam = model.reshape_transform(tokens)
    assert cam.shape == (1, 1, 5, 2) and cam[0, 0, 0, 1] == 2 and cam[0, 0, 1, 0] == 3
