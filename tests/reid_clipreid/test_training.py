"""CLIP-ReID's two training stages on the tiny synthetic dataset: finite losses, and exactly the
parameters each stage should train move while the others stay put."""

from __future__ import annotations

import math

import pytest
import reid_core
import torch
from reid_core.train import build_config
from reid_core.training.checkpoint import CheckpointManager, export_weights
from reid_core.training.trainer import Trainer

from reid_clipreid.training import stage_recipes, train_two_stages

from .conftest import NUM_IDS, fake_clip_file

MODEL = "vit_b16_clipreid"
SIZE = (64, 32)
TINY = ["MODEL.KWARGS.depth", "2", "MODEL.KWARGS.text_depth", "1", "MODEL.KWARGS.img_size", f"({SIZE[0]}, {SIZE[1]})"]


def tiny_opts(clip_path) -> list[str]:
    return [
        *TINY,
        "DATASET.KWARGS.num_ids", str(NUM_IDS), "INPUT.SIZE", f"({SIZE[0]}, {SIZE[1]})",
        "DATALOADER.P", "4", "DATALOADER.K", "2", "DATALOADER.NUM_WORKERS", "0",
        "SOLVER.MAX_ITERS", "2", "TEST.EVAL_PERIOD", "-1", "MODEL.DEVICE", "cpu", "LOG_PERIOD", "1",
    ]


def params(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith(prefix)}


def moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_stage_recipes_follow_the_upstream_configs():
    assert stage_recipes("vit_b16_sie_olp_clipreid") == ("clipreid_vit_stage1", "clipreid_vit_stage2")
    assert stage_recipes("rn50_clipreid") == ("clipreid_rn50_stage1", "clipreid_rn50_stage2")
    vit1 = build_config(MODEL, recipe="clipreid_vit_stage1")
    assert vit1.MODEL.KWARGS.stage == 1 and vit1.MODEL.KWARGS.clip_weights == "openai"
    assert (vit1.SOLVER.BASE_LR, vit1.SOLVER.MAX_EPOCHS, vit1.SOLVER.SCHED) == (0.00035, 120, "cosine")
    assert vit1.LOSS.CE_WEIGHT == 0 and vit1.LOSS.TRI_WEIGHT == 0 and vit1.INPUT.REA_PROB == 0
    vit2 = build_config(MODEL, recipe="clipreid_vit_stage2")
    # CLIP-ReID sums 2 ID terms (x0.25) and 3 triplet terms; our objective averages branch terms
    assert (vit2.LOSS.CE_WEIGHT, vit2.LOSS.TRI_WEIGHT, vit2.LOSS.TRI_MARGIN) == (0.5, 3.0, 0.3)
    assert (vit2.SOLVER.BASE_LR, tuple(vit2.SOLVER.STEPS), vit2.SOLVER.MAX_EPOCHS) == (5e-6, (30, 50), 60)
    rn2 = build_config("rn50_clipreid", recipe="clipreid_rn50_stage2")
    assert (rn2.LOSS.CE_WEIGHT, rn2.SOLVER.BASE_LR, rn2.SOLVER.MAX_EPOCHS) == (2.0, 0.00035, 120)
    # `reid train <model>` starts with stage 1
    assert build_config("rn50_clipreid").MODEL.RECIPE == "clipreid_rn50_stage1"


def test_unknown_recipe_names_the_family_recipes():
    with pytest.raises(reid_core.errors.RegistryError, match="clipreid_vit_stage2"):
        build_config(MODEL, recipe="stage3")


def test_two_stages_train_the_right_parameters(tiny_root, tmp_path):
    clip = fake_clip_file(tmp_path / "clip.pt")
    torch.manual_seed(0)
    cfg1 = build_config(MODEL, "synthetic", tiny_root, output_dir=tmp_path / "s1", recipe="clipreid_vit_stage1",
                        opts=[*tiny_opts(None), "MODEL.KWARGS.clip_weights", str(tmp_path / "clip.pt")])
    t1 = Trainer(cfg1, progress=False)
    net = t1.net
    # stage 1 starts from CLIP: the image encoder's class embedding is CLIP's
    assert torch.equal(net.image_encoder.class_embedding, clip["visual.class_embedding"])
    start = {p: params(net, p) for p in ("image_encoder.", "text_encoder.", "prompt_learner.")}
    t1.run()
    assert t1.iteration == 2 and [set(h) >= {"loss", "i2t", "t2i"} for h in t1.history] == [True, True]
    assert all(math.isfinite(h["loss"]) and h["loss"] > 0 for h in t1.history)
    assert moved(start["prompt_learner."], params(net, "prompt_learner.")) == {"prompt_learner.cls_ctx"}
    assert not moved(start["image_encoder."], params(net, "image_encoder."))
    assert not moved(start["text_encoder."], params(net, "text_encoder."))

    weights = tmp_path / "s1" / "checkpoints" / "last.pth"
    cfg2 = build_config(MODEL, "synthetic", tiny_root, output_dir=tmp_path / "s2", recipe="clipreid_vit_stage2",
                        opts=[*tiny_opts(None), "MODEL.WEIGHTS", str(weights), "SOLVER.BASE_LR", "0.001",
                              "SOLVER.WARMUP_EPOCHS", "0"])
    t2 = Trainer(cfg2, progress=False)
    net2 = t2.net
    learned = net.prompt_learner.cls_ctx.detach()
    assert torch.equal(net2.prompt_learner.cls_ctx, learned)  # stage 2 starts from stage 1's prompts
    start2 = {p: params(net2, p) for p in ("image_encoder.", "text_encoder.", "prompt_learner.", "bottleneck")}
    t2.run()
    assert t2.iteration == 2
    for h in t2.history:
        assert set(h) >= {"loss", "ce", "triplet", "i2t"} and all(math.isfinite(h[k]) for k in ("ce", "triplet", "i2t"))
    assert moved(start2["image_encoder."], params(net2, "image_encoder."))
    assert not moved(start2["text_encoder."], params(net2, "text_encoder."))
    assert not moved(start2["prompt_learner."], params(net2, "prompt_learner."))
    # the BN necks' shifts are frozen, as in CLIP-ReID; their scales learn
    assert moved(start2["bottleneck"], params(net2, "bottleneck")) == {"bottleneck.weight", "bottleneck_proj.weight"}

    # stage 2's checkpoint has CLIP-ReID's key set and loads into the inference model, text side dropped
    path = export_weights(tmp_path / "s2" / "checkpoints" / "last.pth", tmp_path / "weights.pth")
    model = reid_core.load(MODEL, weights=path, depth=2, img_size=SIZE)
    assert not any(k.startswith(("text_encoder.", "prompt_learner.")) for k in model.state_dict())
    x = torch.rand(3, 3, *SIZE)
    net2.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), net2(x))
    assert CheckpointManager(tmp_path / "s2" / "checkpoints").load()["iteration"] == 2


def test_stage_two_refuses_prompts_never_learned(tiny_root, tmp_path):
    cfg = build_config(MODEL, "synthetic", tiny_root, output_dir=tmp_path, recipe="clipreid_vit_stage2",
                       opts=tiny_opts(None))
    with pytest.raises(RuntimeError, match="stage 2 needs the prompts learned in stage 1"):
        Trainer(cfg, progress=False).run()


@pytest.mark.slow  # RN50 with its 2048-d attention pool, both stages: about a minute on 2 busy cores
def test_train_two_stages_chains_the_runs(tiny_root, tmp_path):
    fake_clip_file(tmp_path / "clip.pt", "rn50")
    train_two_stages("rn50_clipreid", "synthetic", tiny_root, output_dir=tmp_path / "run", progress=False,
                     opts=[*tiny_opts(None)[6:], "MODEL.KWARGS.text_depth", "1", "MODEL.KWARGS.img_size", "(64, 32)"],
                     stage1_opts=["MODEL.KWARGS.clip_weights", str(tmp_path / "clip.pt")])
    for stage in ("stage1", "stage2"):
        assert CheckpointManager(tmp_path / "run" / stage / "checkpoints").load()["iteration"] == 2
    s1 = torch.load(tmp_path / "run" / "stage1" / "checkpoints" / "last.pth", weights_only=True)["model"]
    s2 = torch.load(tmp_path / "run" / "stage2" / "checkpoints" / "last.pth", weights_only=True)["model"]
    assert torch.equal(s1["prompt_learner.cls_ctx"], s2["prompt_learner.cls_ctx"])
    assert not torch.equal(s1["image_encoder.conv1.weight"], s2["image_encoder.conv1.weight"])


def test_cli_recipe_option_picks_stage_two_and_refuses_unknown_names(capsys):
    from reid_core.cli import main

    assert main(["train", "--print-config", "--recipe", "clipreid_vit_stage2", MODEL]) == 0
    out = capsys.readouterr().out
    assert "RECIPE: clipreid_vit_stage2" in out and "stage: 2" in out
    assert main(["train", "--print-config", "--recipe", "stage3", MODEL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no recipe 'stage3'" in err[0]
