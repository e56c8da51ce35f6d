"""``reid train MODEL --dataset NAME --root DIR [--config cfg.yaml] [KEY VALUE ...]`` and ``reid export-weights``."""

from __future__ import annotations

import argparse

from ..train import add_arguments, run_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model with its family's recipe (yacs config)")
    add_arguments(p)
    p.set_defaults(func=run_from_args)

    e = sub.add_parser("export-weights", help="write a training checkpoint's model weights as a plain state dict")
    e.add_argument("checkpoint", help="a training checkpoint, e.g. OUTPUT/checkpoints/last.pth or best.pth")
    e.add_argument("out", help="the file to write: .safetensors, or .pth for torch.save")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from ..training.checkpoint import export_weights

    path = export_weights(args.checkpoint, args.out)
    print(f"wrote {path}")
    return 0
