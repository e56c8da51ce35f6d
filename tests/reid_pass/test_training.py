"""The PASS recipe drives the trainer: the LUPerson trunk is loaded, the losses take the model's outputs."""

import math

import pytest
import torch

import reid_core
from reid_core import hub
from reid_core.data.synthetic import ensure_dataset
from reid_core.train import build_config
from reid_core.training.trainer import Trainer

NUM_IDS = 16


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pass_training")
    ensure_dataset(num_ids=NUM_IDS, root=root)
    return root


def test_two_iterations_from_the_recipe_start_from_the_lup_trunk(tiny_root, tmp_path):
    torch.manual_seed(3)
    # the catalogued LUPerson file, made at 256x128 as upstream's, already in the cache: no network
    trunk = reid_core.create_model("vit_small_pass", depth=2).base.state_dict()
    hub.checkpoint_dir().mkdir(parents=True, exist_ok=True)
    lup = {k: v for k, v in trunk.items() if not k.startswith("fc.")}
    from reid_pass.pretrained import pretrained_records

    url = pretrained_records()["pass_vit_small_full.pth"]["url"]
    torch.save(lup, hub.cache_path(url, "pass_vit_small_full.pth"))

    opts = [
        "DATASET.KWARGS.num_ids", str(NUM_IDS), "INPUT.SIZE", "(64, 32)", "MODEL.KWARGS.img_size", "(64, 32)",
        "MODEL.KWARGS.depth", "2", "DATALOADER.P", "4", "DATALOADER.K", "2", "DATALOADER.NUM_WORKERS", "0",
        "SOLVER.MAX_ITERS", "2", "SOLVER.WARMUP_EPOCHS", "0", "SOLVER.WARMUP_ITERS", "0", "TEST.EVAL_PERIOD", "-1",
        "MODEL.DEVICE", "cpu", "LOG_PERIOD", "1",
    ]
    cfg = build_config("vit_small_pass", "synthetic", tiny_root, output_dir=tmp_path, opts=opts)
    assert cfg.MODEL.RECIPE == "pass" and cfg.MODEL.PRETRAINED == "lup"
    trainer = Trainer(cfg, progress=False)
    base = trainer.net.base
    assert torch.equal(base.part_token1, trunk["part_token1"]) and torch.equal(base.blocks[1].attn.qkv.weight,
                                                                                trunk["blocks.1.attn.qkv.weight"])
    assert base.pos_embed.shape == (1, 8, 384)  # the 16x8 pretrained grid resized to 4x2
    batch = next(iter(trainer.loader))
    with torch.no_grad():  # train-mode outputs (logits of the necked feature, the feature) fit the losses
        loss, _ = trainer.objective(trainer.net(batch["image"]), batch["pid"])
    assert math.isfinite(float(loss)) and float(loss) > 0
    trainer.run()
    assert trainer.iteration == 2
    assert not torch.equal(trainer.net.base.part_token1, trunk["part_token1"])  # it trained
