"""``reid tsne MODEL --dataset NAME --root DIR [--ids 20] [--thumbnails] --out FILE.png``: a t-SNE map."""

from __future__ import annotations

import argparse

from . import COMMANDS
from ._options import non_negative_int, positive_float
from .rank import model_and_dataset, viz_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tsne",
        help=COMMANDS["tsne"][1],
        description="Extract features of some identities' images, embed them in 2-D with scikit-learn's "
        "t-SNE and draw them coloured by identity, or as thumbnails framed in their identity's colour.",
        parents=viz_options(),
    )
    p.add_argument("--split", default="gallery", choices=["gallery", "query", "train"], help="which images (default gallery)")
    p.add_argument("--ids", type=non_negative_int, default=20,
                   help="identities to show, spread over the pids; 0 for all (default 20)")
    p.add_argument("--max-images", type=non_negative_int, default=500, help="at most this many images; 0 for all (default 500)")
    p.add_argument("--thumbnails", action="store_true", help="draw the images instead of dots")
    p.add_argument("--perplexity", type=positive_float, default=30.0, help="t-SNE perplexity (default 30)")
    p.add_argument("--size", type=positive_float, default=8.0, help="figure size in inches (default 8)")
    p.add_argument("--out", required=True, help="output PNG file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..viz import render_tsne

    model, dataset, weights = model_and_dataset(args)
    path = render_tsne(
        model, dataset, args.out, split=args.split, ids=args.ids, max_images=args.max_images,
        thumbnails=args.thumbnails, perplexity=args.perplexity, seed=args.seed, size=args.size, dpi=args.dpi,
        batch_size=args.batch_size, num_workers=args.num_workers, progress=args.progress,
    )
    print(f"t-SNE of {model.name} on {dataset.name} (weights: {weights}) -> {path}")
    return 0
