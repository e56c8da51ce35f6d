"""Catalogued weights of the *_transreid models: datasets, sizes, offline resolution and errors."""

import pytest
import torch

import reid_core
from reid_core import hub
from reid_core.errors import WeightsError

from ..http_server import closed_port_url

TRAINING_SETS = {"market1501": (751, 6), "dukemtmcreid": (702, 8), "msmt17": (1041, 15)}


@pytest.mark.parametrize("name", ["vit_base_transreid", "vit_transreid", "deit_transreid"])
def test_catalog_lists_three_datasets_with_classes_and_cameras(name):
    weights = reid_core.model_info(name).weights
    assert sorted(weights) == sorted(TRAINING_SETS)
    for dataset, (classes, cameras) in TRAINING_SETS.items():
        rec = weights[dataset]
        assert rec.num_classes == classes
        # only the SIE models are built per camera count; the baseline has no camera table
        assert rec.camera_num == (0 if name == "vit_base_transreid" else cameras)
        assert rec.file_name.startswith(f"{dataset}-{name}-") and rec.url.startswith("https://")
        assert 0 < rec.metrics["mAP"] < 1


def test_load_msmt17_from_the_cache_builds_15_cameras_and_1041_classes():
    rec = reid_core.weights_record("vit_transreid", "msmt17")
    torch.manual_seed(0)
    state = reid_core.create_model("vit_transreid", num_classes=1041, camera_num=15).state_dict()
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(state, hub.cache_path(rec.url, rec.cache_name))

    model = reid_core.load("vit_transreid", "msmt17", progress=False)
    assert not model.training and model.camera_aware
    assert model.num_classes == 1041 and model.camera_num == 15
    assert model.base.sie_embed.shape == (15, 1, 768)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with torch.no_grad():
        assert model(torch.rand(1, 3, 256, 128), camids=torch.tensor([14])).shape == (1, 3840)


def test_offline_error_names_model_url_and_path(monkeypatch):
    monkeypatch.setenv("REID_MIRROR", closed_port_url("/mirror"))
    rec = reid_core.weights_record("vit_transreid", "msmt17")
    with pytest.raises(WeightsError) as err:
        reid_core.load("vit_transreid", "msmt17", progress=False)
    text = str(err.value)
    assert "vit_transreid on msmt17" in text
    assert rec.url in text  # where the file comes from
    assert str(hub.cache_path(rec.url, rec.cache_name)) in text  # where to put it
