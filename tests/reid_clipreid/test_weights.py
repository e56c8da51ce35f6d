"""Catalogued weights of the *_clipreid models: datasets, hosts, licence, loading CLIP-ReID's full files."""

from __future__ import annotations

import pytest
import reid_core
import torch
from reid_core import hub
from reid_core.errors import WeightsError

from ..http_server import closed_port_url

NAMES = ["vit_b16_clipreid", "vit_b16_sie_olp_clipreid", "rn50_clipreid"]
#: dataset -> (training identities, cameras)
TRAINING_SETS = {"market1501": (751, 6), "dukemtmcreid": (702, 8), "msmt17": (1041, 15), "occ_duke": (702, 8)}


@pytest.mark.parametrize("name", NAMES)
def test_catalog_lists_the_person_checkpoints_on_drive(name):
    info = reid_core.model_info(name)
    assert info.sources == ["clipreid"]
    weights = info.weights
    assert sorted(weights) == sorted(TRAINING_SETS)
    for dataset, (classes, cameras) in TRAINING_SETS.items():
        rec = weights[dataset]
        assert rec.num_classes == classes
        assert rec.camera_num == (cameras if name == "vit_b16_sie_olp_clipreid" else 0)
        assert rec.url.startswith("https://drive.google.com/file/d/") and rec.url.endswith("/view?usp=share_link")
        assert rec.file_name == f"{dataset}-{name}.pth"
        assert rec.licence == "MIT"
        assert not rec.metrics  # the paper's numbers could not be verified: none are published


def upstream_state(name: str, num_classes: int, camera_num: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with every key CLIP-ReID's training model saves (its published files' layout)."""
    torch.manual_seed(0)
    model = reid_core.create_model(name, num_classes=num_classes, camera_num=camera_num, stage=2, text_depth=1)
    return {f"module.{k}": v for k, v in model.state_dict().items()}  # some files carry DataParallel's prefix


def test_load_msmt17_builds_15_cameras_and_drops_the_text_side():
    rec = reid_core.weights_record("vit_b16_sie_olp_clipreid", "msmt17")
    state = upstream_state("vit_b16_sie_olp_clipreid", 1041, 15)
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(state, hub.cache_path(rec.url, rec.cache_name))

    model = reid_core.load("vit_b16_sie_olp_clipreid", "msmt17", progress=False)
    assert not model.training and model.camera_aware and model.cv_embed.shape == (15, 768)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], state[f"module.{k}"]) for k in loaded)
    with torch.no_grad():
        assert model(torch.rand(1, 3, 256, 128), camids=torch.tensor([14])).shape == (1, 1280)
    report = reid_core.load_weights(reid_core.create_model("vit_b16_sie_olp_clipreid", camera_num=15), state)
    assert report.ok and "prompt_learner.cls_ctx" in report.dropped and "text_encoder.ln_final.weight" in report.dropped
    assert not any(k.startswith("image_encoder.") for k in report.dropped)


def test_a_file_for_another_architecture_is_refused():
    state = upstream_state("vit_b16_clipreid", 751)  # stride 16: 129 positions, no cv_embed
    with pytest.raises(reid_core.errors.CheckpointError, match="positional_embedding"):
        reid_core.load_weights(reid_core.create_model("vit_b16_sie_olp_clipreid"), state)


def test_offline_error_names_model_url_and_path(monkeypatch):
    monkeypatch.setenv("REID_MIRROR", closed_port_url("/mirror"))
    rec = reid_core.weights_record("rn50_clipreid", "market1501")
    with pytest.raises(WeightsError) as err:
        reid_core.load("rn50_clipreid", "market1501", progress=False)
    text = str(err.value)
    assert "rn50_clipreid on market1501" in text
    assert str(hub.cache_path(rec.url, rec.cache_name)) in text  # where to put it
