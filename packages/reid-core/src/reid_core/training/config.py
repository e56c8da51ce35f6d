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
    # Pretrained start of the trunk: "imagenet" (the file the upstream recipe starts from, as the
    # family's catalog lists it), a path or URL of such a file; "" or "none": random init.
    # Family recipes set "imagenet" where the upstream config does. Ignored with MODEL.WEIGHTS.
    c.MODEL.PRETRAINED = ""
    c.MODEL.DEVICE = ""  # "" (CUDA when available), "cpu" or "cuda"

    c.DATASET = CN()
    c.DATASET.NAME = "synthetic"
    c.DATASET.ROOT = ""
    c.DATASET.KWARGS = CN(new_allowed=True)  # reader options, e.g. num_ids for synthetic

    c.INPUT = CN()
    c.INPUT.SIZE = (256, 128)  # (H, W)
    c.INPUT.PADDING = 10
    c.INPUT.FLIP_PROB = 0.5
    c.INPUT.REA_PROB = 0.5  # random erasing
    c.INPUT.AUTOAUG_PROB = 0.0
    c.INPUT.COLOR_JITTER = False

    c.DATALOADER = CN()
    c.DATALOADER.SAMPLER = "pk"  # pk: P identities x K images; random: P*K images drawn uniformly
    c.DATALOADER.P = 16  # identities per batch (per process)
    c.DATALOADER.K = 4  # images per identity
    c.DATALOADER.NUM_WORKERS = 2

    c.SOLVER = CN()
    c.SOLVER.OPTIM = "Adam"  # Adam, AMSGrad, AdamW or SGD
    c.SOLVER.BASE_LR = 3.5e-4
    c.SOLVER.BIAS_LR_FACTOR = 1.0
    c.SOLVER.WEIGHT_DECAY = 5e-4
    c.SOLVER.WEIGHT_DECAY_NORM = 5e-4  # normalization layers' scales and shifts
    c.SOLVER.WEIGHT_DECAY_BIAS = 5e-4
    c.SOLVER.MOMENTUM = 0.9
    c.SOLVER.NESTEROV = False
    c.SOLVER.SCHED = "multistep"  # multistep or cosine
    c.SOLVER.STEPS = (40, 90)
    c.SOLVER.GAMMA = 0.1
    c.SOLVER.MAX_EPOCHS = 120
    c.SOLVER.DELAY_EPOCHS = 0
    c.SOLVER.ETA_MIN_RATIO = 0.0
    c.SOLVER.WARMUP_ITERS = 2000
    c.SOLVER.WARMUP_EPOCHS = 0.0  # when > 0, replaces WARMUP_ITERS (upstreams that warm up per epoch)
    c.SOLVER.WARMUP_FACTOR = 0.1
    # Freezing (fast-reid's FREEZE_LAYERS, deep-person-reid's fixbase/open_layers): while the
    # iteration is below FREEZE_ITERS (or FREEZE_EPOCHS), parameters whose name matches a
    # FREEZE_LAYERS pattern and no OPEN_LAYERS pattern are not updated, and their BatchNorm and
    # dropout layers run in eval mode. Patterns are fnmatch patterns on dotted parameter names.
    c.SOLVER.FREEZE_ITERS = 0
    c.SOLVER.FREEZE_EPOCHS = 0
    c.SOLVER.FREEZE_LAYERS = ("backbone.*",)
    c.SOLVER.OPEN_LAYERS = ()
    c.SOLVER.CLIP_GRAD = 0.0
    c.SOLVER.AMP = "auto"  # auto (bf16/fp16 on CUDA), off, fp16, bf16
    c.SOLVER.CHANNELS_LAST = True  # on CUDA
    c.SOLVER.COMPILE = False
    # DDP looks for parameters a step did not use (multi-branch models may skip some); models that
    # use all of them every step can turn it off to save a traversal of the graph.
    c.SOLVER.FIND_UNUSED_PARAMETERS = True
    c.SOLVER.MAX_ITERS = 0  # stop early after this many iterations in total (0: no limit)
    c.SOLVER.MAX_SECONDS = 0.0  # stop early after this much training time in this run (0: no limit)
    # With MAX_SECONDS: the schedule (warmup, steps, cosine) runs on the clock as well, so that it
    # is complete when time is up, however fast the machine. Such a run does not resume exactly.
    c.SOLVER.SCHED_BY_TIME = False

    c.LOSS = CN()
    c.LOSS.CE_WEIGHT = 1.0
    c.LOSS.CE_EPSILON = 0.1
    c.LOSS.MARGIN_SOFTMAX = ""  # "", circle, cosface, arcface: applied to cosine logits
    c.LOSS.MARGIN_SCALE = 64.0
    c.LOSS.MARGIN = 0.35
    # > 0: the model's "logits" are this scale times cosines (a margin head without labels in
    # its forward, e.g. fast-reid's circle head); MARGIN_SOFTMAX is applied to logits / scale.
    c.LOSS.COS_LOGITS_SCALE = 0.0
    c.LOSS.TRI_WEIGHT = 1.0
    c.LOSS.TRI_MARGIN = 0.3  # 0: soft margin
    c.LOSS.TRI_MINING = "hard"  # hard or weighted (AGW)
    c.LOSS.TRI_NORM_FEAT = False
    # Which features share a triplet term: "" each its own; "0;1;2;3,4;5,6,7" (MGN) concatenates
    # features 3 and 4, and 5 to 7, before their terms.
    c.LOSS.TRI_GROUPS = ""
    # How the terms of several branches combine: "mean", or "global_local" (TransReID's JPM:
    # half the first branch plus half the mean of the others).
    c.LOSS.BRANCH_WEIGHTING = "mean"
    c.LOSS.CENTER_WEIGHT = 0.0
    c.LOSS.CENTER_LR = 0.5
    c.LOSS.EXTRA_WEIGHT = 1.0  # weight of losses the model returns itself under "losses"
    # Regularizers a family provides, by name: {FUNCTION: "module:function", INPUT: "model" or a
    # key of the train-mode output, WEIGHT: 1.0, START_EPOCH: 0}; e.g. ABD-Net's of_penalty.
    c.LOSS.REGULARIZERS = CN(new_allowed=True)

    c.TEST = CN()
    c.TEST.EVAL_PERIOD = 10  # epochs; 0: only at the end; -1: never
    c.TEST.BATCH_SIZE = 128
    c.TEST.METRIC = "cosine"
    c.TEST.RERANK = False
    c.TEST.FLIP = False

    c.OUTPUT_DIR = "output"
    c.KEEP_LAST = 2
    c.SEED = 0
    c.LOG_PERIOD = 20
    c.TENSORBOARD = False
    c.CHECKSUM_LOG = False  # each rank appends a checksum of its parameters per step (DDP debugging)
    return c


def merge_overrides(cfg: CN, overrides: dict[str, Any] | None = None, opts: Sequence[str] = ()) -> CN:
    """Merge a nested dict (a family recipe or a parsed YAML) and then ``KEY VALUE`` pairs into ``cfg``.

    A ``KEY VALUE`` pair may add a key under a node that accepts new keys (``MODEL.KWARGS``,
    ``DATASET.KWARGS``); any other unknown key is an error that names it.
    """
    if overrides:
        cfg.merge_from_other_cfg(CN(_to_cfg_dict(overrides, cfg)))
    if opts:
        if len(opts) % 2:
            raise ValueError(f"options must come in KEY VALUE pairs, got {list(opts)}")
        for key, value in zip(opts[0::2], opts[1::2]):
            *parents, last = key.split(".")
            node = cfg
            for name in parents:
                node = node.get(name) if isinstance(node, CN) else None
                if node is None:
                    break
            if isinstance(node, CN) and last not in node and node.is_new_allowed():
                node[last] = _decode(value)
            elif isinstance(node, CN) and last in node:
                cfg.merge_from_list([key, _coerce(_decode(value), node[last])])
            else:
                cfg.merge_from_list([key, value])
    return cfg


def _decode(value: Any) -> Any:
    # The same literal parsing yacs applies to command-line values ("True" -> True, "(1, 2)" -> tuple).
    return CN._decode_cfg_value(value)


def _coerce(value: Any, current: Any) -> Any:
    # yacs refuses an int where the default is a float ("SOLVER.BASE_LR 1", "WARMUP_EPOCHS: 10").
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _to_cfg_dict(d: dict[str, Any], current: Any = None) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        here = current.get(k) if isinstance(current, dict) else None
        if isinstance(v, dict):
            out[k] = _to_cfg_dict(v, here)
        elif isinstance(v, list):
            out[k] = tuple(v)
        else:
            out[k] = _coerce(v, here)
    return out
