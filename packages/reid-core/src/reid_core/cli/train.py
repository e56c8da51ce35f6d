"""``reid train MODEL --dataset NAME --root DIR [--config cfg.yaml] [KEY VALUE ...]``."""

from __future__ import annotations

import argparse

from ..train import add_arguments, run_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model with its family's recipe (yacs config)")
    add_arguments(p)
    p.set_defaults(func=run_from_args)
