"""Catalogued weights of the *_pass models and the LUPerson part-aware pretrained trunks."""

import pytest
import torch

import reid_core
from reid_core import hub
from reid_core.errors import CheckpointError, WeightsError
from reid_pass import pretrained_records

from ..http_server import closed_port_url

NAMES = ["vit_base_384_pass", "vit_base_pass", "vit_small_384_pass", "vit_small_pass"]
CLASSES = {"market1501": 751, "msmt17": 1041}


@pytest.mark.parametrize("name", NAMES)
def test_catalog_lists_market_and_msmt_from_the_readme(name):
    info = reid_core.model_info(name)
    assert info.sources == ["pass"]
    weights = info.weights
    assert {ds: w.num_classes for ds, w in weights.items()} == CLASSES
    for ds, w in weights.items():
        assert w.url.startswith("https://drive.google.com/file/d/") and w.url.endswith("/view?usp=sharing")
        assert w.file_name == f"{ds}-{name}.pth"  # Drive URLs have no file name: the catalog gives one
        assert w.licence == "Apache-2.0"
        assert 0.6 < w.metrics["mAP"] < w.metrics["top1"] < 1
        assert w.config.startswith("PASS_transreid/run_pass_vit_")
        assert w.input_size == (None if info.input_size == (256, 128) else info.input_size)


def test_pretrained_trunks_are_recorded_under_upstream_names():
    records = pretrained_records()
    assert set(records) == {"pass_vit_small_full.pth", "pass_vit_base_full.pth"}
    covered = sorted(m for rec in records.values() for m in rec["models"])
    assert covered == NAMES
    assert all(rec["url"].startswith("https://drive.google.com/file/d/") for rec in records.values())


def test_load_msmt17_from_the_cache_builds_1041_classes():
    rec = reid_core.weights_record("vit_small_pass", "msmt17")
    torch.manual_seed(0)
    state = reid_core.create_model("vit_small_pass", num_classes=1041).state_dict()
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(state, hub.cache_path(rec.url, rec.cache_name))

    model = reid_core.load("vit_small_pass", "msmt17", progress=False)
    assert not model.training and model.num_classes == 1041
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with torch.no_grad():
        assert model(torch.rand(1, 3, 256, 128)).shape == (1, 768)


def test_offline_error_names_model_url_and_path(monkeypatch):
    monkeypatch.setenv("REID_MIRROR", closed_port_url("/mirror"))
    rec = reid_core.weights_record("vit_small_384_pass", "market1501")
    with pytest.raises(WeightsError) as err:
        reid_core.load("vit_small_384_pass", "market1501", progress=False)
    text = str(err.value)
    assert "vit_small_384_pass on market1501" in text
    assert rec.url in text
    assert str(hub.cache_path(rec.url, rec.cache_name)) in text


def dino_checkpoint(trunk_state):
    """A DINO training checkpoint as upstream's loader reads it: teacher, module./backbone. prefixes, a head."""
    teacher = {f"module.backbone.{k}": v for k, v in trunk_state.items() if not k.startswith("fc.")}
    teacher["module.head.mlp.0.weight"] = torch.zeros(4, 4)
    return {"teacher": teacher}


def small(name, **kw):
    torch.manual_seed(kw.pop("seed", 0))
    return reid_core.create_model(name, depth=2, drop_path_rate=0.0, **kw)


def test_backbone_weights_from_a_file_fill_the_trunk_and_resize_positions(tmp_path):
    source = small("vit_small_384_pass", img_size=(256, 128), seed=1).base.state_dict()
    path = tmp_path / "pass_vit_small_full.pth"
    torch.save(dino_checkpoint(source), path)
    model = small("vit_small_384_pass", img_size=(384, 128), backbone_weights=path)
    got = model.base.state_dict()
    for key, value in source.items():
        if key == "pos_embed":
            assert got[key].shape == (1, 24 * 8, 384)  # pretrained at 256x128, resized to 24x8
        elif not key.startswith("fc."):
            assert torch.equal(got[key], value), key  # part tokens and their positions included
    fresh = small("vit_small_384_pass", img_size=(384, 128))
    assert torch.equal(model.bottleneck_2.weight, fresh.bottleneck_2.weight)  # the necks keep their init


def test_lup_fetches_the_catalogued_file_through_the_cache():
    source = small("vit_small_pass", img_size=(256, 128), seed=2).base.state_dict()
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(dino_checkpoint(source), lup_cache("pass_vit_small_full.pth"))
    model = small("vit_small_pass", img_size=(256, 128), backbone_weights="lup")
    assert torch.equal(model.base.blocks[1].mlp.fc2.weight, source["blocks.1.mlp.fc2.weight"])


def test_lup_offline_names_the_upstream_file(monkeypatch):
    monkeypatch.setenv("REID_MIRROR", closed_port_url("/mirror"))
    with pytest.raises(WeightsError, match="LUPerson pretrained trunk of vit_base_384_pass") as err:
        small("vit_base_384_pass", backbone_weights="lup")
    assert str(lup_cache("pass_vit_base_full.pth")) in str(err.value)


def test_a_trunk_file_without_part_tokens_is_refused(tmp_path):
    state = small("vit_small_pass", img_size=(256, 128)).base.state_dict()
    del state["part_token3"], state["part3_pos"]
    path = tmp_path / "no_parts.pth"
    torch.save(dino_checkpoint(state), path)
    with pytest.raises(CheckpointError, match="missing from the checkpoint"):
        small("vit_small_pass", img_size=(256, 128), backbone_weights=path)


def lup_cache(file_name):
    """Where the cache keeps the catalogued LUPerson file ``file_name``."""
    from reid_pass.pretrained import pretrained_records

    return hub.cache_path(pretrained_records()[file_name]["url"], file_name)
