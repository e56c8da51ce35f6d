"""``reid rank MODEL --dataset NAME --root DIR [--queries 20] [--topk 10] --out DIR``: rank-list images.

The arguments shared by ``reid rank``, ``reid gradcam`` and ``reid tsne`` are defined here.
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from ..data import ReIDDataset, build_dataset
from ..model import ReIDModel
from .eval import build_model, default_device


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Model, weights, dataset and device options of the visualization commands."""
    p.add_argument("model", help="zoo name, e.g. osnet_x1_0_dpr (see `reid list`)")
    p.add_argument("--dataset", default="synthetic", help="market1501, dukemtmcreid, msmt17, cuhk03np_detected, "
                   "cuhk03np_labeled, folder or synthetic (default; generated on first use)")
    p.add_argument("--root", help="the dataset folder or its parent (default: $REID_HOME/datasets)")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a reader option, e.g. num_ids=20 for synthetic or version=V1 for msmt17 (repeatable)")
    p.add_argument("--weights", help="a checkpoint file or URL instead of the catalogued weights")
    p.add_argument("--random-init", action="store_true", help="use a randomly initialized model (no weights)")
    p.add_argument("--source", help="catalogued weights source (default: seed)")
    p.add_argument("--seed", type=int, default=0, help="random seed of --random-init and of sampling (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--num-workers", type=int, default=0, help="image decoding workers (default 0)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of the PNG files (default 100)")
    p.add_argument("--progress", action="store_true", help="show progress bars while extracting")


def dataset_options(items: list[str]) -> dict[str, Any]:
    """``["num_ids=20"]`` -> ``{"num_ids": 20}`` (values read as YAML scalars)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"reid: --dataset-option expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def model_and_dataset(args: argparse.Namespace) -> tuple[ReIDModel, ReIDDataset, str]:
    """The dataset the arguments name, and the model in eval mode with where its weights came from."""
    device = default_device(args.device)
    dataset = build_dataset(args.dataset, args.root, **dataset_options(args.dataset_option))
    model, weights = build_model(
        args, device, dataset.name, num_classes=dataset.num_train_pids, camera_num=dataset.num_cameras
    )
    return model, dataset, weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rank",
        help="draw rank lists: each query and its top-k gallery matches",
        description="Write PNG rank lists: the query, then its top-k gallery matches with their cosine "
        "similarity, framed green (same identity) or red. Same-identity entries of the query's camera "
        "are left out, as in the evaluation.",
    )
    add_common_arguments(p)
    p.add_argument("--queries", type=int, default=20, help="how many queries, spread over the query set (default 20)")
    p.add_argument("--topk", type=int, default=10, help="matches per query (default 10)")
    p.add_argument("--per-image", type=int, default=4, help="queries (rows) per PNG file (default 4)")
    p.add_argument("--keep-same-camera", action="store_true", help="also rank same-identity images of the query's camera")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..viz import render_rank_lists

    model, dataset, weights = model_and_dataset(args)
    paths = render_rank_lists(
        model, dataset, args.out, queries=args.queries, topk=args.topk, per_image=args.per_image,
        remove_same_camera=not args.keep_same_camera, dpi=args.dpi, batch_size=args.batch_size,
        num_workers=args.num_workers, progress=args.progress,
    )
    print(f"{len(paths)} rank-list image(s) of {model.name} on {dataset.name} (weights: {weights}) in {args.out}")
    return 0
