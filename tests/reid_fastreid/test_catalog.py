"""The weights catalog of reid_fastreid: the seed's 99 files and fast-reid's own 13 models."""

from pathlib import Path

import pytest

import reid_core
from reid_fastreid.models import MODELS, model_name

NAMES = sorted(model_name(*combo) for combo in MODELS)
CLASSES = {"market1501": 751, "dukemtmcreid": 702, "msmt17": 1041}
FIXTURES = Path(__file__).parents[1] / "parity" / "fixtures"

#: fast-reid's MODEL_ZOO (release v0.1.1) covers these models
OFFICIAL = {
    "bagtricks_R50_fastreid", "bagtricks_R50_ibn_fastreid", "bagtricks_R101_ibn_fastreid", "bagtricks_S50_fastreid",
    "agw_R50_fastreid", "agw_R50_ibn_fastreid", "agw_R101_ibn_fastreid", "agw_S50_fastreid",
    "sbs_R50_fastreid", "sbs_R50_ibn_fastreid", "sbs_R101_ibn_fastreid", "sbs_S50_fastreid",
    "mgn_sbs_R50_ibn_fastreid",
}


def test_catalog_covers_exactly_the_registered_models_and_fixtures():
    catalog = reid_core.list_families()["fastreid"].catalog
    assert sorted(catalog) == NAMES
    assert sorted(p.stem for p in FIXTURES.glob("*_fastreid.json")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_seed_weights_three_datasets(name):
    info = reid_core.model_info(name)
    assert info.sources[0] == "seed"
    seed = info.weights_from("seed")
    assert {ds: w.num_classes for ds, w in seed.items()} == CLASSES
    for w in seed.values():
        assert w.url.startswith("https://github.com/HWliiu/pytorch-reid-models/releases/")
        assert name in w.file_name
        assert 0 < w.metrics["mAP"] <= 1
    assert set(info.published) == {"macs", "params"}


def test_official_source_lists_13_models():
    with_official = {n for n in NAMES if "fastreid" in reid_core.model_info(n).sources}
    assert with_official == OFFICIAL
    for name in OFFICIAL:
        official = reid_core.model_info(name).weights_from("fastreid")
        assert official, name
        for ds, w in official.items():
            assert w.num_classes == CLASSES[ds]
            assert w.url.startswith("https://github.com/JDAI-CV/fast-reid/releases/download/v0.1.1/")
            assert w.config and w.config.endswith(".yml")


def test_reid_info_shows_both_sources(capsys):
    from reid_core.cli import main

    assert main(["info", "sbs_R101_ibn_fastreid", "--no-count"]) == 0
    out = capsys.readouterr().out
    assert "weights (seed):" in out and "weights (fastreid):" in out
    assert out.index("weights (seed):") < out.index("weights (fastreid):")
