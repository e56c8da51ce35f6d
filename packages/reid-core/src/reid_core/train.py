"""``reid_core.train(cfg)`` and ``python -m reid_core.train`` (also under ``torchrun``).

```bash
reid train bagtricks_R50_fastreid --dataset market1501 --root ~/datasets SOLVER.MAX_EPOCHS 60
torchrun --nproc_per_node=4 -m reid_core.train bagtricks_R50_fastreid --dataset market1501 --root ~/datasets
```

This module is callable: ``reid_core.train(cfg)`` runs :func:`train`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

import yaml
from yacs.config import CfgNode

from .training.config import default_config, merge_overrides
from .training.recipes import recipe_for


def build_config(
    model: str,
    dataset: str = "synthetic",
    root: str | os.PathLike | None = None,
    *,
    config_file: str | os.PathLike | None = None,
    opts: Sequence[str] = (),
    output_dir: str | os.PathLike | None = None,
    recipe: str | None = None,
) -> CfgNode:
    """The defaults, then the model family's recipe, then ``config_file``, then ``KEY VALUE`` opts.

    ``recipe`` names another recipe of the family than the model's default (e.g. CLIP-ReID's stage 2).
    """
    cfg = default_config()
    recipe, overrides = recipe_for(model, recipe)
    merge_overrides(cfg, overrides)
    cfg.MODEL.NAME = model
    cfg.MODEL.RECIPE = recipe
    cfg.DATASET.NAME = dataset
    cfg.DATASET.ROOT = str(root or "")
    if config_file:
        with open(config_file) as f:
            merge_overrides(cfg, yaml.safe_load(f) or {})
    if output_dir is not None:
        cfg.OUTPUT_DIR = str(output_dir)
    merge_overrides(cfg, None, opts)
    return cfg


def train(cfg: CfgNode, *, resume: str | os.PathLike | bool | None = None, progress: bool = True) -> dict[str, float]:
    """Train as ``cfg`` says (see :func:`build_config`); returns the last evaluation's metrics.

    Under ``torchrun`` every process calls this; DDP, the sampler's rank shares, rank-0-only
    logging and checkpointing, and the gathering of evaluation features follow from the
    environment. ``resume=True`` continues from ``OUTPUT_DIR/checkpoints/last.pth``.
    """
    from .training.trainer import Trainer

    return Trainer(cfg, resume=resume, progress=progress).run()


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic", help="market1501, dukemtmcreid, msmt17, cuhk03np, synthetic, ...")
    p.add_argument("--root", default="", help="dataset folder or its parent")
    p.add_argument("--config", help="a YAML file of config overrides")
    p.add_argument("--output", help="output folder (OUTPUT_DIR)")
    p.add_argument("--resume", nargs="?", const=True, default=None,
                   help="continue from OUTPUT_DIR/checkpoints/last.pth, or from the given checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    p.add_argument("--no-pretrained", action="store_true",
                   help="start from random weights (MODEL.PRETRAINED none) instead of the recipe's ImageNet start")
    p.add_argument("--recipe", help="another recipe of the model's family than its default (e.g. a second stage)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``reid train`` and ``python -m reid_core.train``."""
    p.add_argument("model", help="zoo model name, e.g. osnet_x0_25_dpr")
    _add_options(p)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. SOLVER.MAX_EPOCHS 10")


def run_from_args(args: argparse.Namespace) -> int:
    """Build the config from parsed arguments and train."""
    # Options may also follow the model name; argparse leaves those in the remainder.
    options = argparse.ArgumentParser(add_help=False)
    _add_options(options)
    defaults = options.parse_args([])
    later, opts = options.parse_known_args(args.opts)
    for key, value in vars(later).items():
        if value != getattr(defaults, key):
            setattr(args, key, value)
    cfg = build_config(args.model, args.dataset, args.root, config_file=args.config, opts=opts,
                       output_dir=args.output, recipe=args.recipe)
    if args.no_pretrained:
        cfg.MODEL.PRETRAINED = "none"
    if args.print_config:
        print(cfg.dump())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    metrics = train(cfg, resume=args.resume)
    if metrics and int(os.environ.get("RANK", "0")) == 0:
        print(" ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reid_core.train", description="Train a reid-zoo model.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
