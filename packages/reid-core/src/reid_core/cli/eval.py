"""``reid eval MODEL --dataset NAME [--root DIR] [--weights PATH | --random-init] ...``: the metrics table row."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch

from ..data import build_dataset
from ..errors import DatasetError, WeightsError
from ..evaluate import evaluate
from ..model import ReIDModel
from ..pretrained import load
from ..profile import count_macs, count_params, human
from ..registry import create_model, model_info

#: the seed's table: column title and minimum width
COLUMNS = [("Dataset", 14), ("Model", 40), ("Top1", 7), ("Top5", 7), ("mAP", 7), ("mINP", 7), ("MACs", 10), ("Params", 10)]


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Where the model's weights come from, and where it runs (shared with ``reid extract``)."""
    p.add_argument("model", help="zoo name, e.g. osnet_x1_0_dpr (see `reid list`)")
    p.add_argument("--weights", help="a checkpoint file or URL instead of the catalogued weights")
    p.add_argument("--random-init", action="store_true", help="use a randomly initialized model (no weights)")
    p.add_argument("--source", help="catalogued weights source (default: seed)")
    p.add_argument("--seed", type=int, default=0, help="random seed of --random-init (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass (default 128)")
    p.add_argument("--num-workers", type=int, default=None, help="image decoding workers (default: one per core, up to 8)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="fp16 autocast (default: on for CUDA)")
    p.add_argument("--flip", action="store_true", help="average the features of each image and its mirror")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on a dataset and print the metrics table row",
        description="Extract query and gallery features and print Top1, Top5, mAP, mINP, MACs and params.",
    )
    add_model_arguments(p)
    p.add_argument("--dataset", default="synthetic", help="market1501, dukemtmcreid, msmt17, cuhk03np_detected, "
                   "cuhk03np_labeled, folder or synthetic (default; generated on first use)")
    p.add_argument("--root", help="the dataset folder or its parent (default: $REID_HOME/datasets)")
    p.add_argument("--dataset-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="reader option, repeatable: e.g. version=V1 (msmt17), camera_pattern=... (folder), "
                   "num_ids=20 or seed=1 (synthetic)")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    p.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_dataset_args(items: list[str]) -> dict[str, Any]:
    """``["num_ids=20", "version=V1"]`` -> ``{"num_ids": 20, "version": "V1"}`` (integers converted)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DatasetError(f"--dataset-arg expects KEY=VALUE, got {item!r}")
        out[key.replace("-", "_")] = int(value) if value.lstrip("-").isdigit() else value
    return out


def default_device(requested: str | None) -> torch.device:
    """``requested``, or CUDA when there is one, else the CPU."""
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
    ``--random-init`` is given; ``num_classes`` and ``camera_num`` size a random model.
    """
    if args.weights and args.random_init:
        raise WeightsError("give either --weights or --random-init, not both")
    if args.weights:
        return load(args.model, weights=args.weights, device=device), str(args.weights)
    if args.random_init:
        torch.manual_seed(args.seed)
        model = create_model(args.model, num_classes=max(num_classes, 1), camera_num=max(camera_num, 1))
        return model.to(device).eval(), "random-init"
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
    return load(args.model, dataset, source=args.source, device=device), f"catalog:{args.source or info.sources[0]}"


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
    device = default_device(args.device)
    dataset = build_dataset(args.dataset, args.root, **parse_dataset_args(args.dataset_arg))
    model, weights = build_model(
        args, device, dataset.name, num_classes=dataset.num_train_pids, camera_num=dataset.num_cameras
    )
    result = evaluate(
        model,
        dataset,
        batch_size=args.batch_size,
        device=device,
        amp=args.amp,
        flip=args.flip,
        num_workers=args.num_workers,
        rerank=args.rerank,
        progress=not args.no_progress,
    )
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
        f"weights: {weights}; {device}; extraction {result.extra.get('extract_s', 0):.1f}s"
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
            "flip": bool(args.flip),
            "device": str(device),
            "cmc": [float(v) for v in result.cmc],
            "seconds": {k: float(v) for k, v in result.extra.items() if isinstance(v, (int, float))},
        }
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=2) + "\n")
        os.replace(tmp, path)
    return 0
