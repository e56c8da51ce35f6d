"""Training configuration: a yacs ``CfgNode``, the convention fast-reid and TransReID users know.

Precedence, lowest first: these defaults, the family's recipe for the model, a YAML file
(``--config``), then ``KEY VALUE`` pairs from the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yacs.config import CfgNode as CN


def default_config() -> CN:
    """The base configuration every recipe starts from (bagtricks-like values)."""
    c = CN()
    c.MODEL = CN()
    c.MODEL.NAME = "osnet_x0_25_dpr"
    c.MODEL.RECIPE = ""  # filled from the model's family; informational
    c.MODEL.KWARGS = CN(new_allowed=True)  # extra build options of the family
    c.MODEL.WEIGHTS = ""  # initial weights (a file); empty: random init

    c.DATASET = CN()
    c.DATASET.NAME = "synthetic"
    c.DATASET.ROOT = ""

    c.INPUT = CN()
    c.INPUT.SIZE = (256, 128)  # (H, W)
    c.INPUT.PADDING = 10
    c.INPUT.FLIP_PROB = 0.5
    c.INPUT.REA_PROB = 0.5  # random erasing
    c.INPUT.AUTOAUG_PROB = 0.0
    c.INPUT.COLOR_JITTER = False

    c.DATALOADER = CN()
    c.DATALOADER.P = 16  # identities per batch
    c.DATALOADER.K = 4  # images per identity
    c.DATALOADER.NUM_WORKERS = 2

    c.SOLVER = CN()
    c.SOLVER.OPTIM = "Adam"  # Adam, AdamW or SGD
    c.SOLVER.BASE_LR = 3.5e-4
    c.SOLVER.BIAS_LR_FACTOR = 1.0
    c.SOLVER.WEIGHT_DECAY = 5e-4
    c.SOLVER.MOMENTUM = 0.9
    c.SOLVER.NESTEROV = False
    c.SOLVER.SCHED = "multistep"  # multistep or cosine
    c.SOLVER.STEPS = (40, 90)
    c.SOLVER.GAMMA = 0.1
    c.SOLVER.MAX_EPOCHS = 120
    c.SOLVER.DELAY_EPOCHS = 0
    c.SOLVER.ETA_MIN_RATIO = 0.0
    c.SOLVER.WARMUP_ITERS = 2000
    c.SOLVER.WARMUP_FACTOR = 0.1
    c.SOLVER.FREEZE_ITERS = 0  # train only the heads for this many iterations
    c.SOLVER.FREEZE_PREFIXES = ("heads", "bottleneck", "classifier")  # what stays trainable then
    c.SOLVER.CLIP_GRAD = 0.0
    c.SOLVER.AMP = "auto"  # auto (bf16/fp16 on CUDA), off, fp16, bf16
    c.SOLVER.CHANNELS_LAST = True  # on CUDA
    c.SOLVER.COMPILE = False
    c.SOLVER.MAX_ITERS = 0  # stop early after this many iterations in total (0: no limit)

    c.LOSS = CN()
    c.LOSS.CE_WEIGHT = 1.0
    c.LOSS.CE_EPSILON = 0.1
    c.LOSS.MARGIN_SOFTMAX = ""  # "", circle, cosface, arcface: applied to cosine logits
    c.LOSS.MARGIN_SCALE = 64.0
    c.LOSS.MARGIN = 0.35
    c.LOSS.TRI_WEIGHT = 1.0
    c.LOSS.TRI_MARGIN = 0.3  # 0: soft margin
    c.LOSS.TRI_MINING = "hard"  # hard or weighted (AGW)
    c.LOSS.TRI_NORM_FEAT = False
    c.LOSS.CENTER_WEIGHT = 0.0
    c.LOSS.CENTER_LR = 0.5
    c.LOSS.EXTRA_WEIGHT = 1.0  # weight of losses the model computes itself (e.g. ABD's regularizers)

    c.TEST = CN()
    c.TEST.EVAL_PERIOD = 10  # epochs; 0: only at the end
    c.TEST.BATCH_SIZE = 128
    c.TEST.METRIC = "cosine"
    c.TEST.RERANK = False
    c.TEST.FLIP = False

    c.OUTPUT_DIR = "output"
    c.KEEP_LAST = 2
    c.SEED = 0
    c.LOG_PERIOD = 20
    c.TENSORBOARD = False
    return c


def merge_overrides(cfg: CN, overrides: dict[str, Any] | None = None, opts: Sequence[str] = ()) -> CN:
    """Merge a nested dict (a family recipe or a parsed YAML) and then ``KEY VALUE`` pairs into ``cfg``."""
    if overrides:
        cfg.merge_from_other_cfg(CN(_to_cfg_dict(overrides)))
    if opts:
        if len(opts) % 2:
            raise ValueError(f"options must come in KEY VALUE pairs, got {list(opts)}")
        cfg.merge_from_list(list(opts))
    return cfg


def _to_cfg_dict(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _to_cfg_dict(v)
        elif isinstance(v, list):
            out[k] = tuple(v)
        else:
            out[k] = v
    return out
