"""The solider catalog: SOLIDER-REID's Drive files, readable cache names, metrics, licence, recipes."""

import pytest
import torch

import reid_core
from reid_core.training.config import default_config, merge_overrides
from reid_core.training.recipes import recipe_for

NAMES = ("swin_tiny_solider", "swin_small_solider", "swin_base_solider")
CLASSES = {"market1501": 751, "msmt17": 1041}


@pytest.mark.parametrize("name", NAMES)
def test_two_datasets_from_drive_with_cache_names(name):
    info = reid_core.model_info(name)
    assert info.sources == ["solider"]
    assert {d: r.num_classes for d, r in info.weights.items()} == CLASSES
    for dataset, r in info.weights.items():
        assert r.url.startswith("https://drive.google.com/file/d/") and r.url.endswith("/view?usp=share_link")
        size = name.split("_")[1]
        assert r.file_name == f"solider_swin_{size}_{dataset}.pth"
        assert r.licence == "MIT"
        assert r.build == {"semantic_weight": 0.2}
        assert 0 < r.metrics["mAP"] < r.metrics["top1"] < 1
        assert r.metrics["mAP"] < r.metrics["mAP_rerank"]


def test_files_are_distinct():
    urls = [r.url for n in NAMES for r in reid_core.model_info(n).all_weights]
    assert len(urls) == len(set(urls)) == 6


def test_load_applies_the_records_semantic_weight_and_classes(tmp_path):
    torch.manual_seed(0)
    model = reid_core.create_model("swin_tiny_solider", num_classes=1041, semantic_weight=0.7)
    path = tmp_path / "solider_swin_tiny_msmt17.pth"
    torch.save(model.state_dict(), path)
    loaded = reid_core.load("swin_tiny_solider", "msmt17", weights=path, progress=False)
    assert loaded.semantic_weight == 0.2 and loaded.num_classes == 1041 and not loaded.training


@pytest.mark.parametrize("name,lr", [("swin_tiny_solider", 0.0008), ("swin_base_solider", 0.0002)])
def test_recipes_follow_run_sh(name, lr):
    _, overrides = recipe_for(name)
    cfg = merge_overrides(default_config(), overrides)
    assert cfg.SOLVER.OPTIM == "SGD" and cfg.SOLVER.BASE_LR == pytest.approx(lr)
    assert cfg.MODEL.KWARGS.semantic_weight == 0.2
    assert tuple(cfg.INPUT.SIZE) == (384, 128) and cfg.SOLVER.WARMUP_EPOCHS == 20


def test_the_recipe_losses_train_the_model_one_step():
    from reid_core.training.objective import Objective

    torch.manual_seed(0)
    cfg = merge_overrides(default_config(), recipe_for("swin_tiny_solider")[1])
    model = reid_core.create_model("swin_tiny_solider", num_classes=3, **dict(cfg.MODEL.KWARGS)).train()
    objective = Objective(cfg, num_classes=3, feat_dim=768)
    targets = torch.tensor([0, 0, 1, 1])
    loss, parts = objective(model(torch.rand(4, 3, 64, 32)), targets, model=model)
    assert set(parts) == {"ce", "triplet"} and torch.isfinite(loss)
    loss.backward()
    assert model.base.patch_embed.projection.weight.grad.abs().sum() > 0
    assert model.base.semantic_embed_w[0].weight.grad is None  # the controller stays fixed


def test_load_finds_a_drive_file_in_the_cache_under_its_cache_name():
    from reid_core import hub

    torch.manual_seed(0)
    state = reid_core.create_model("swin_tiny_solider", num_classes=751).state_dict()
    rec = reid_core.weights_record("swin_tiny_solider", "market1501")
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    path = hub.cache_path(rec.url, rec.cache_name)
    assert path.name.startswith("solider_swin_tiny_market1501-")
    torch.save(state, path)
    model = reid_core.load("swin_tiny_solider", "market1501", progress=False)  # no network: the cache has it
    key = "base.stages.3.blocks.1.ffn.layers.1.weight"
    assert torch.equal(model.state_dict()[key], state[key]) and model.semantic_weight == 0.2
