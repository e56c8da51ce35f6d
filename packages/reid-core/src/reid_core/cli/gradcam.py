"""``reid gradcam MODEL --dataset NAME --root DIR [--queries 4] [--topk 5] --out DIR``: rank lists with Grad-CAM."""

from __future__ import annotations

import argparse

from .rank import add_common_arguments, model_and_dataset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradcam",
        help="draw rank lists with Grad-CAM overlays on the query and on each match",
        description="Write one PNG per query: its rank list, the Grad-CAM of each match for its similarity "
        "to the query, and the Grad-CAM of the query for its similarity to each match. The layer is the "
        "model's cam_layer unless --layer is given.",
    )
    add_common_arguments(p)
    p.add_argument("--queries", type=int, default=4, help="how many queries (default 4)")
    p.add_argument("--topk", type=int, default=5, help="matches per query (default 5)")
    p.add_argument("--layer", help="module path of the layer to explain (default: the model's cam_layer)")
    p.add_argument("--aug-smooth", action="store_true", help="average over flips and brightness changes (6x slower)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..viz import render_gradcam

    model, dataset, weights = model_and_dataset(args)
    paths = render_gradcam(
        model, dataset, args.out, queries=args.queries, topk=args.topk, layer=args.layer,
        aug_smooth=args.aug_smooth, dpi=args.dpi, batch_size=args.batch_size, num_workers=args.num_workers,
        progress=args.progress,
    )
    print(f"{len(paths)} Grad-CAM image(s) of {model.name} on {dataset.name} (weights: {weights}) in {args.out}")
    return 0
