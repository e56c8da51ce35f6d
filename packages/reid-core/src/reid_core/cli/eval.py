"""``reid eval MODEL --dataset NAME [--root DIR] [--weights PATH | --random-init] ...``: the metrics table row."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import COMMANDS
from ._options import (
    UsageError,
    amp_options,
    dataset_options,
    input_options,
    parse_dataset_options,
    run_options,
    weights_options,
)

if TYPE_CHECKING:
    import torch

    from ..model import ReIDModel

#: the seed's table: column title and minimum width
COLUMNS = [("Dataset", 14), ("Model", 40), ("Top1", 7), ("Top5", 7), ("mAP", 7), ("mINP", 7), ("MACs", 10), ("Params", 10)]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help=COMMANDS["eval"][1],
        description="Extract query and gallery features and print Top1, Top5, mAP, mINP, MACs and params. "
        "Images are fed at the size the weights were trained at, with their test-time flip, unless "
        "--input-size / --flip say otherwise.",
        parents=[weights_options(), dataset_options(), input_options(), run_options(), amp_options()],
    )
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    p.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    p.set_defaults(func=run)


def default_device(requested: str | None) -> torch.device:
    """``requested``, or CUDA when there is one, else the CPU."""
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(
    args: argparse.Namespace,
    device: torch.device,
    dataset: str | None = None,
    *,
    num_classes: int = 1,
    camera_num: int = 1,
) -> tuple[ReIDModel, str]:
    """The model the arguments ask for, in eval mode on ``device``, and where its weights came from.

    ``dataset`` names the catalogued weights to load when neither ``--weights`` nor
    ``--random-init`` is given; ``num_classes`` and ``camera_num`` size a random model. The
    model runs at ``--input-size`` and with ``--flip`` when given, else as its weights were
    trained and tested (see :func:`reid_core.load`).
    """
    import torch

    from ..errors import WeightsError
    from ..pretrained import load, set_input
    from ..registry import create_model, model_info

    size, flip = getattr(args, "input_size", None), getattr(args, "flip", None)
    if args.weights and args.random_init:
        raise UsageError("give either --weights or --random-init, not both")
    if args.weights:
        return load(args.model, weights=args.weights, device=device, input_size=size, flip=flip), str(args.weights)
    if args.random_init:
        torch.manual_seed(args.seed)
        model = create_model(args.model, num_classes=max(num_classes, 1), camera_num=max(camera_num, 1))
        return set_input(model.to(device).eval(), input_size=size, flip=flip), "random-init"
    info = model_info(args.model)
    sources = [args.source] if args.source else info.sources
    catalogued = sorted({d for s in sources for d in info.weights_from(s)}) if info.all_weights else []
    if dataset not in catalogued:
        where = f"for dataset {dataset!r}" if dataset else "without a dataset"
        have = f" (catalogued datasets: {', '.join(catalogued)})" if catalogued else " (it has no catalogued weights)"
        raise WeightsError(
            f"{args.model} has no catalogued weights {where}{have}; pass --weights PATH, or --random-init "
            "for an untrained model"
        )
    model = load(args.model, dataset, source=args.source, device=device, input_size=size, flip=flip)
    return model, f"catalog:{args.source or info.sources[0]}"


def describe_input(model: ReIDModel) -> str:
    """``"input 96x48, flip"``: how images are fed to ``model``."""
    h, w = model.input_size
    return f"input {h}x{w}" + (", flip" if model.meta.test_flip else "")


def check_model_name(name: str) -> None:
    """Fail early, with the registry's suggestions, on a model name that does not exist."""
    from ..registry import model_info

    model_info(name)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The seed's markdown table: centred cells, its column widths (wider where a value needs it)."""
    widths = [max(w, max((len(str(r[c])) + 2 for r in rows), default=0)) for c, w in COLUMNS]

    def cell(text: str, width: int) -> str:
        left = (width - len(text)) // 2  # the odd space goes right, as in the seed's table
        return " " * left + text + " " * (width - len(text) - left)

    head = "|" + "|".join(cell(c, w) for (c, _), w in zip(COLUMNS, widths)) + "|"
    rule = "|" + "|".join(" :" + "-" * (w - 4) + ": " for w in widths) + "|"
    body = ["|" + "|".join(cell(str(r[c]), w) for (c, _), w in zip(COLUMNS, widths)) + "|" for r in rows]
    return "\n".join([head, rule, *body])


def run(args: argparse.Namespace) -> int:
    from ..data import build_dataset
    from ..evaluate import evaluate

    check_model_name(args.model)
    options = parse_dataset_options(args.dataset_option, args.dataset)
    device = default_device(args.device)
    dataset = build_dataset(args.dataset, args.root, **options)
    model, weights = build_model(
        args, device, dataset.name, num_classes=dataset.num_train_pids, camera_num=dataset.num_cameras
    )
    result = evaluate(
        model,
        dataset,
        batch_size=args.batch_size,
        device=device,
        amp=args.amp,
        num_workers=args.num_workers,
        rerank=args.rerank,
        progress=args.progress,
        backend=args.backend,
    )
    from ..profile import count_macs, count_params, human

    macs = count_macs(model, model.input_size, camids=model.camera_aware)
    params = count_params(model)
    row = {
        "Dataset": dataset.name,
        "Model": model.name,
        "Top1": f"{result.rank(1):.3f}",
        "Top5": f"{result.rank(5):.3f}",
        "mAP": f"{result.mAP:.3f}",
        "mINP": f"{result.mINP:.3f}",
        "MACs": human(macs),
        "Params": human(params),
    }
    print(format_table([row]))
    print(
        f"{result.num_valid} of {result.num_queries} queries scored, gallery {len(dataset.gallery)} images; "
        f"weights: {weights}; {describe_input(model)}; {device}; extraction {result.extra.get('extract_s', 0):.1f}s with {result.extra.get('backend', 'torch')}"
    )
    if args.json:
        out = {
            "dataset": dataset.name,
            "model": model.name,
            "weights": weights,
            "top1": result.rank(1),
            "top5": result.rank(5),
            "top10": result.rank(10),
            "mAP": result.mAP,
            "mINP": result.mINP,
            "macs": macs,
            "params": params,
            "num_query": result.num_queries,
            "num_valid_query": result.num_valid,
            "num_gallery": len(dataset.gallery),
            "rerank": bool(args.rerank),
            "flip": bool(model.meta.test_flip),
            "input_size": list(model.input_size),
            "device": str(device),
            "backend": result.extra.get("backend", "torch"),
            "cmc": [float(v) for v in result.cmc],
            "seconds": {k: float(v) for k, v in result.extra.items() if isinstance(v, (int, float))},
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=2) + "\n")
        os.replace(tmp, path)
    return 0
