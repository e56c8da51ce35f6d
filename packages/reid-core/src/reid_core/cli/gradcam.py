"""``reid gradcam MODEL --dataset NAME --root DIR [--queries 4] [--topk 5] --out DIR``: rank lists with Grad-CAM."""

from __future__ import annotations

import argparse

from . import COMMANDS
from ._options import UsageError, positive_int
from .rank import model_and_dataset, viz_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradcam",
        help=COMMANDS["gradcam"][1],
        description="Write one PNG per query: its rank list, the Grad-CAM of each match for its similarity "
        "to the query, and the Grad-CAM of the query for its similarity to each match. The layer is the "
        "model's cam_layer unless --layer is given.",
        parents=viz_options(),
    )
    p.add_argument("--queries", type=positive_int, default=4, help="how many queries (default 4)")
    p.add_argument("--topk", type=positive_int, default=5, help="matches per query (default 5)")
    p.add_argument("--layer", help="module path of the layer to explain (default: the model's cam_layer)")
    p.add_argument("--aug-smooth", action="store_true", help="average over flips and brightness changes (6x slower)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def check_layer(model: object, layer: str | None) -> None:
    """Refuse, before any image is read, a ``--layer`` the model does not have (or no layer at all)."""
    name = model.meta.name  # type: ignore[attr-defined]
    if layer is None:
        if model.meta.cam_layer is None:  # type: ignore[attr-defined]
            raise UsageError(f"{name} declares no Grad-CAM layer; pass --layer MODULE (a module path of the model)")
        return
    try:
        model.get_submodule(layer)  # type: ignore[attr-defined]
    except AttributeError:
        parent, _, _ = layer.rpartition(".")
        try:
            children = [n for n, _ in model.get_submodule(parent).named_children()]  # type: ignore[attr-defined]
            near = f"; {parent or 'the model'} has: {', '.join(children[:12])}" + (", ..." if len(children) > 12 else "")
        except AttributeError:
            top = [n for n, _ in model.named_children()]  # type: ignore[attr-defined]
            near = f"; its top-level modules: {', '.join(top[:12])}"
        raise UsageError(f"argument --layer: {name} has no module {layer!r}{near}") from None


def run(args: argparse.Namespace) -> int:
    from ..viz import render_gradcam

    model, dataset, weights = model_and_dataset(args)
    check_layer(model, args.layer)
    paths = render_gradcam(
        model, dataset, args.out, queries=args.queries, topk=args.topk, layer=args.layer,
        aug_smooth=args.aug_smooth, dpi=args.dpi, batch_size=args.batch_size, num_workers=args.num_workers,
        progress=args.progress,
    )
    print(f"{len(paths)} Grad-CAM image(s) of {model.name} on {dataset.name} (weights: {weights}) in {args.out}")
    return 0
