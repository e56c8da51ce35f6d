"""Pretrained starts of the *_solider models: SOLIDER's LUPerson trunks, a manual download."""

import pytest
import torch

import reid_core
from reid_core.backbone_weights import backbone_spec_of, load_backbone_weights
from reid_core.errors import CheckpointError, WeightsError


def _family():
    return reid_core.list_families()["solider"]


def test_each_size_names_its_lup_trunk_as_a_manual_file():
    for size in ("tiny", "small", "base"):
        info = _family().backbones[f"solider_swin_{size}_lup"]
        assert info.manual and info.url.startswith("https://drive.google.com/file/d/")
        assert info.file_name == f"solider_swin_{size}_checkpoint_tea.pth"


def test_the_missing_manual_file_says_where_to_put_it():
    with pytest.raises(WeightsError, match=r"solider_swin_tiny_checkpoint_tea-[0-9a-f]{8}\.pth"):
        reid_core.create_model("swin_tiny_solider", backbone_weights="imagenet")


def test_backbone_keys_land_on_the_trunk_and_a_foreign_key_is_refused():
    torch.manual_seed(0)
    source = reid_core.create_model("swin_tiny_solider")
    trunk = {"backbone." + k[len("base."):]: v for k, v in source.state_dict().items() if k.startswith("base.")}
    model = reid_core.create_model("swin_tiny_solider")
    spec = backbone_spec_of(_family(), "swin_tiny_solider", model)
    report = load_backbone_weights(model, spec, trunk)
    assert report.ok and report.loaded == len(trunk)
    key = "base.stages.2.blocks.1.attn.w_msa.qkv.weight"
    assert torch.equal(model.state_dict()[key], source.state_dict()[key])
    with pytest.raises(CheckpointError, match="head.weight"):
        load_backbone_weights(model, spec, {**trunk, "head.weight": torch.zeros(3)})
