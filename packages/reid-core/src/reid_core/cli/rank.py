"""``reid rank MODEL --dataset NAME --root DIR [--queries 20] [--topk 10] --out DIR``: rank-list images.

The parent parser shared by ``reid rank``, ``reid gradcam`` and ``reid tsne``, and the model and
dataset they all start from, are defined here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import COMMANDS
from ._options import (
    Parser,
    dataset_options,
    input_options,
    parse_dataset_options,
    positive_int,
    run_options,
    weights_options,
)
from .eval import build_model, check_model_name, default_device

if TYPE_CHECKING:
    from ..data import ReIDDataset
    from ..model import ReIDModel


def viz_options() -> list[argparse.ArgumentParser]:
    """The parent parsers of the visualization commands: model, weights, dataset, input, running, picture."""
    picture = Parser(add_help=False)
    picture.add_argument("--dpi", type=positive_int, default=100, help="resolution of the PNG files (default 100)")
    return [weights_options(seed_help="random seed of --random-init and of sampling (default 0)"), dataset_options(),
            input_options(), run_options(), picture]


def model_and_dataset(args: argparse.Namespace) -> tuple[ReIDModel, ReIDDataset, str]:
    """The dataset the arguments name, and the model in eval mode with where its weights came from."""
    from ..data import build_dataset

    check_model_name(args.model)
    options = parse_dataset_options(args.dataset_option, args.dataset)
    device = default_device(args.device)
    dataset = build_dataset(args.dataset, args.root, **options)
    model, weights = build_model(
        args, device, dataset.name, num_classes=dataset.num_train_pids, camera_num=dataset.num_cameras
    )
    return model, dataset, weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rank",
        help=COMMANDS["rank"][1],
        description="Write PNG rank lists: the query, then its top-k gallery matches with their cosine "
        "similarity, framed green (same identity) or red. Same-identity entries of the query's camera "
        "are left out, as in the evaluation.",
        parents=viz_options(),
    )
    p.add_argument("--queries", type=positive_int, default=20,
                   help="how many queries, spread over the query set (default 20)")
    p.add_argument("--topk", type=positive_int, default=10, help="matches per query (default 10)")
    p.add_argument("--per-image", type=positive_int, default=4, help="queries (rows) per PNG file (default 4)")
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
