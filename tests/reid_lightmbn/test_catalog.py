"""The lightmbn catalog: LightMBN's OneDrive folder, BoxMOT's copies, what is not published."""

import pytest
import torch

import reid_core
from reid_core.errors import WeightsError
from reid_core.training.config import default_config, merge_overrides
from reid_core.training.recipes import recipe_for

CLASSES = {"market1501": 751, "dukemtmcreid": 702, "cuhk03np_detected": 767}
FOLDER = "https://1drv.ms/u/s!Ap1wlV4d0agrao4DxXe8loc_k30?e=I9PJXP"


def test_osnet_lmbn_has_three_datasets_from_both_sources():
    info = reid_core.model_info("osnet_lmbn")
    assert info.sources == ["boxmot", "lightmbn"]
    for source in info.sources:
        records = info.weights_from(source)
        assert {d: r.num_classes for d, r in records.items()} == CLASSES
        for r in records.values():
            assert r.licence == "MIT"
            assert 0 < r.metrics["mAP"] < r.metrics["top1"] < 1
    upstream = info.weights_from("lightmbn")
    # the README's one folder link, kept as given, with the file inside it after '#'
    assert {r.url for r in upstream.values()} == {f"{FOLDER}#{r.file_name}" for r in upstream.values()}
    assert {r.file_name for r in upstream.values()} == {"lmbn_n_market.pth", "lmbn_n_duke.pth", "lmbn_n_cuhk03_d.pth"}
    # the default source is the one that downloads as a file, and names the same files
    mirror = info.weights
    assert all(mirror[d].file_name == upstream[d].file_name for d in CLASSES)


def test_resnet50_lmbn_has_no_weights_that_could_be_sourced():
    with pytest.raises(WeightsError, match="resnet50_lmbn has no published weights"):
        reid_core.weights_record("resnet50_lmbn", "market1501")


def test_load_builds_the_records_classes_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    state = reid_core.create_model("osnet_lmbn", num_classes=702).state_dict()
    path = tmp_path / "lmbn_n_duke.pth"
    torch.save({f"model.{k}": v for k, v in state.items()}, path)
    model = reid_core.load("osnet_lmbn", "dukemtmcreid", weights=path, progress=False)
    assert not model.training and model.num_classes == 702
    with torch.no_grad():
        assert model(torch.rand(1, 3, 128, 64)).shape == (1, 3584)


@pytest.mark.parametrize("name", ["osnet_lmbn", "resnet50_lmbn"])
def test_recipe_is_lightmbns_config(name):
    recipe, overrides = recipe_for(name)
    cfg = merge_overrides(default_config(), overrides)
    assert recipe == "lightmbn"
    assert cfg.SOLVER.OPTIM == "Adam" and cfg.SOLVER.BASE_LR == pytest.approx(6e-4)
    assert (cfg.DATALOADER.P, cfg.DATALOADER.K) == (6, 8)
    assert tuple(cfg.INPUT.SIZE) == (384, 128)


def test_the_recipe_losses_train_the_model_one_step():
    from reid_core.training.objective import Objective

    torch.manual_seed(0)
    cfg = merge_overrides(default_config(), recipe_for("osnet_lmbn")[1])
    model = reid_core.create_model("osnet_lmbn", num_classes=3).train()
    objective = Objective(cfg, num_classes=3, feat_dim=3584)
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    loss, parts = objective(model(torch.rand(6, 3, 64, 32)), targets, model=model)
    assert set(parts) == {"ce", "triplet"} and torch.isfinite(loss)
    loss.backward()
    assert model.reduction_ch_1.classifier.weight.grad.abs().sum() > 0
    assert model.backone[0].conv.weight.grad.abs().sum() > 0


def test_load_finds_the_default_file_in_the_cache():
    from reid_core import hub

    torch.manual_seed(0)
    state = reid_core.create_model("osnet_lmbn", num_classes=767).state_dict()
    rec = reid_core.weights_record("osnet_lmbn", "cuhk03np_detected")
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in state.items()}}, hub.cache_path(rec.url, rec.cache_name))
    model = reid_core.load("osnet_lmbn", "cuhk03np_detected", progress=False)
    assert model.num_classes == 767 and rec.source == "boxmot"
