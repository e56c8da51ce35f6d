"""Starting from OpenAI's CLIP files: TorchScript or plain, keys mapped, grids resized, prompts embedded."""

from __future__ import annotations

import pytest
import reid_core
import torch
from reid_core import hub
from reid_core.errors import CheckpointError, ChecksumError

from reid_clipreid.clip.text import PERSON_PROMPT_TOKENS
from reid_clipreid.clip.vision import resize_grid_embedding
from reid_clipreid.clip.weights import read_clip_state_dict
from reid_clipreid.models import pretrained_records

from .conftest import fake_clip_file


def test_catalog_records_openais_files_with_the_sha256_their_urls_embed():
    recs = pretrained_records()
    assert set(recs) == {"clip_vit_b16", "clip_rn50"}
    for rec in recs.values():
        assert rec["url"].startswith("https://openaipublic.azureedge.net/clip/models/")
        assert rec["url"].split("/")[-2] == rec["sha256"] and len(rec["sha256"]) == 64
        assert rec["licence"] == "MIT" and rec["key_map"]["visual."] == "image_encoder."
    assert recs["clip_rn50"]["models"] == ["rn50_clipreid"]


@pytest.mark.parametrize("torchscript", [True, False], ids=["torchscript", "state_dict"])
def test_vit_stage1_starts_from_clip(tmp_path, torchscript):
    clip = fake_clip_file(tmp_path / "clip.pt", torchscript=torchscript)
    assert read_clip_state_dict(tmp_path / "clip.pt").keys() == clip.keys()
    model = reid_core.create_model("vit_b16_sie_olp_clipreid", num_classes=5, stage=1, depth=2, text_depth=1,
                                   clip_weights=tmp_path / "clip.pt")
    enc = model.image_encoder
    assert torch.equal(enc.conv1.weight, clip["visual.conv1.weight"]) and enc.conv1.stride == (12, 12)
    assert torch.equal(enc.transformer.resblocks[1].attn.in_proj_weight, clip["visual.transformer.resblocks.1.attn.in_proj_weight"])
    pos = enc.positional_embedding
    assert pos.shape == (211, 768) and torch.equal(pos[0], clip["visual.positional_embedding"][0])
    text = model.text_encoder
    assert torch.equal(text.text_projection, clip["text_projection"])
    assert torch.equal(text.transformer.resblocks[0].mlp.c_fc.weight, clip["transformer.resblocks.0.mlp.c_fc.weight"])
    # the prompt's fixed parts are CLIP's embeddings of <start> a photo of a / person . <end> <pad>...
    emb = clip["token_embedding.weight"]
    torch.testing.assert_close(model.prompt_learner.token_prefix[0], emb[list(PERSON_PROMPT_TOKENS[:5])])
    suffix = model.prompt_learner.token_suffix[0]
    torch.testing.assert_close(suffix[:3], emb[[2533, 269, 49407]])
    torch.testing.assert_close(suffix[3:], emb[0].expand(65, -1))


def test_rn50_attention_pool_positions_resized_from_7x7(tmp_path):
    clip = fake_clip_file(tmp_path / "clip.pt", "rn50")
    model = reid_core.create_model("rn50_clipreid", clip_weights=tmp_path / "clip.pt")  # inference: image side only
    pos = model.image_encoder.attnpool.positional_embedding
    assert clip["visual.attnpool.positional_embedding"].shape == (50, 2048) and pos.shape == (129, 2048)
    sd = model.state_dict()
    for key in ("layer4.0.downsample.0.weight", "layer4.0.downsample.1.running_var", "attnpool.c_proj.bias", "conv3.weight"):
        assert torch.equal(sd[f"image_encoder.{key}"], clip[f"visual.{key}"])


def test_resize_keeps_the_first_token_and_a_constant_grid():
    pos = torch.cat([torch.full((1, 4), 7.0), torch.full((49, 4), 2.0)])
    out = resize_grid_embedding(pos, (16, 8))
    assert out.shape == (129, 4) and torch.all(out[0] == 7) and torch.allclose(out[1:], torch.tensor(2.0))
    grid = torch.arange(1 + 4, dtype=torch.float).view(5, 1)
    torch.testing.assert_close(resize_grid_embedding(grid, (2, 2)), grid)  # same grid: unchanged
    with pytest.raises(ValueError, match="do not form a 3x3 grid"):
        resize_grid_embedding(torch.zeros(11, 4), (2, 2), old_grid=(3, 3))


def test_a_clip_file_of_the_other_architecture_is_refused(tmp_path):
    fake_clip_file(tmp_path / "rn50.pt", "rn50")
    with pytest.raises(CheckpointError, match="do not fit this encoder"):
        reid_core.create_model("vit_b16_clipreid", depth=2, clip_weights=tmp_path / "rn50.pt")


def test_openai_file_is_verified_against_its_catalogued_sha256(tmp_path):
    rec = pretrained_records()["clip_vit_b16"]
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    fake_clip_file(hub.cache_path(rec["url"], rec["cache_name"]))  # not OpenAI's bytes
    with pytest.raises(ChecksumError, match="do not match their checksum"):
        reid_core.create_model("vit_b16_clipreid", depth=2, clip_weights="openai")
