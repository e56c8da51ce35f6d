"""Every family's recipe builds its trainer and runs two iterations (one model per recipe).

The models are real zoo models at a small input size on the tiny synthetic dataset; the recipe
is otherwise the family's default (optimizer, losses, freezing, regularizers, sampler).
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from reid_core.training.recipes import recipe_for, resolve_recipe
from reid_core.training.trainer import Trainer

from .conftest import short_run

#: (model, recipe it must get, input size, extra options)
CASES = [
    ("bagtricks_R50_fastreid", "bagtricks", (64, 32), ()),
    ("agw_R50_fastreid", "agw", (64, 32), ()),
    ("sbs_R50_fastreid", "sbs", (64, 32), ()),
    ("mgn_R50_fastreid", "mgn", (96, 32), ()),  # MGN cuts its map in 3 stripes: 6 rows at least
    ("mgn_agw_R50_fastreid", "mgn_agw", (96, 32), ()),
    ("mgn_sbs_R50_fastreid", "mgn_sbs", (96, 32), ()),
    ("resnet18_bot", "bot", (64, 32), ()),
    ("vit_transreid", "transreid", (64, 32), ("MODEL.KWARGS.img_size", "(64, 32)", "MODEL.KWARGS.depth", "2")),
    ("osnet_x0_25_dpr", "osnet_small", (64, 32), ()),
    ("osnet_x1_0_dpr", "osnet", (64, 32), ()),
    ("osnet_ibn_x1_0_dpr", "osnet_ibn", (64, 32), ()),
    ("osnet_ain_x0_25_dpr", "osnet_ain", (64, 32), ()),
    # both regularizers from the first step; narrower heads keep the feature Gram matrices small
    ("resnet50_abd", "abd", (64, 32), ("LOSS.REGULARIZERS.OW.START_EPOCH", "0", "LOSS.REGULARIZERS.OF.START_EPOCH", "0",
                                       "MODEL.KWARGS.global_dim", "64", "MODEL.KWARGS.abd_dim", "64")),
    ("resnet50_agw", "agw", (64, 32), ()),
    ("resnet50_ap", "apnet", (64, 32), ()),
]

FAMILY_MODULE = {
    "fastreid": "reid_fastreid", "bot": "reid_bot", "transreid": "reid_transreid", "dpr": "reid_torchreid",
    "abd": "reid_abd", "agw": "reid_agw", "ap": "reid_apnet",
}


def _module(model: str) -> str:
    return FAMILY_MODULE[model.rsplit("_", 1)[1]]


@pytest.mark.parametrize(("model", "recipe", "size", "extra"), CASES, ids=[c[0] for c in CASES])
def test_recipe_runs_two_iterations(tiny_root, tmp_path, model, recipe, size, extra):
    if importlib.util.find_spec(_module(model)) is None:
        pytest.skip(f"{_module(model)} is not installed")
    torch.manual_seed(0)
    # the recipe as it is (sampler, freezing, losses, optimizer), only smaller: batches and images
    overrides = recipe_for(model)[1]
    keep = ["DATALOADER.SAMPLER", overrides.get("DATALOADER", {}).get("SAMPLER", "pk"),
            "SOLVER.FREEZE_EPOCHS", str(overrides.get("SOLVER", {}).get("FREEZE_EPOCHS", 0))]
    cfg = short_run(model, tiny_root, tmp_path, "DATALOADER.P", "2", "DATALOADER.K", "2", *keep, *extra, size=size)
    assert cfg.MODEL.RECIPE == recipe
    trainer = Trainer(cfg, progress=False)
    before = {k: v.clone() for k, v in trainer.net.named_parameters()}
    batches = iter(trainer.loader)
    parts = []
    for _ in range(2):
        parts.append(trainer._step(next(batches)))
        trainer.iteration += 1
    for p in parts:
        assert all(math.isfinite(v) for v in p.values()), p
    if cfg.LOSS.TRI_WEIGHT:
        assert "triplet" in parts[0]
    for name in trainer.objective.regularizers:
        assert name in parts[0] and parts[0][name] != 0.0
    if cfg.LOSS.CENTER_WEIGHT:
        assert "center" in parts[0]
    moved = {k for k, v in trainer.net.named_parameters() if not torch.equal(before[k], v)}
    assert moved, "no parameter changed"
    if trainer.freeze_iters:  # the recipe starts frozen: only the open layers learn
        assert trainer._frozen and moved.isdisjoint(trainer._frozen)


def test_recipe_inheritance_and_errors():
    from reid_core.errors import RegistryError

    recipes = {"a": {"SOLVER": {"BASE_LR": 1.0, "STEPS": [1]}, "LOSS": {"CE_WEIGHT": 1.0}},
               "b": {"_BASE_": "a", "SOLVER": {"BASE_LR": 2.0}},
               "loop": {"_BASE_": "loop"}}
    assert resolve_recipe(recipes, "b") == {"SOLVER": {"BASE_LR": 2.0, "STEPS": [1]}, "LOSS": {"CE_WEIGHT": 1.0}}
    with pytest.raises(RegistryError, match="cycle"):
        resolve_recipe(recipes, "loop")
    with pytest.raises(RegistryError, match="unknown recipe"):
        resolve_recipe(recipes, "missing")


@pytest.mark.parametrize(("model", "recipe", "size", "extra"), CASES, ids=[c[0] for c in CASES])
def test_recipes_start_from_imagenet_as_upstream(model, recipe, size, extra):
    if importlib.util.find_spec(_module(model)) is None:
        pytest.skip(f"{_module(model)} is not installed")
    from reid_core.train import build_config

    assert build_config(model).MODEL.PRETRAINED == "imagenet"


def test_mlfn_and_the_demo_train_from_scratch():
    from reid_core.cli.demo import DEMO_OPTS, MODEL
    from reid_core.train import build_config

    if importlib.util.find_spec("reid_torchreid") is None:
        pytest.skip("reid_torchreid is not installed")
    assert build_config("mlfn_dpr").MODEL.PRETRAINED == ""  # deep-person-reid cannot fetch its file
    assert build_config(MODEL, opts=DEMO_OPTS).MODEL.PRETRAINED == "none"
