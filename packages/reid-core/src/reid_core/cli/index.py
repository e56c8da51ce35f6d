"""``reid index build|add|search|info``: a persistent gallery index of a folder of images.

The index remembers how its features were made (model, weights, input size, normalization, flip);
``add`` and ``search`` rebuild that model, so features of another model never meet the index's.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import ReidError
from . import COMMANDS
from ._options import amp_options, input_options, positive_int, regex, run_options, weights_options
from .eval import build_model, check_model_name, default_device
from .extract import extract_folder, shard_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help=COMMANDS["index"][1])
    inner = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    b = inner.add_parser("build", help="extract a folder of images into a new index",
                         description="Extract features of every image under --images and write an index to --out.",
                         parents=[weights_options(), input_options(), run_options(), amp_options(), shard_options()])
    b.add_argument("--images", required=True, help="folder of gallery images (searched recursively)")
    b.add_argument("--out", required=True, help="the index folder to write")
    b.add_argument("--dataset", help="load the model's catalogued weights trained on this dataset")
    b.add_argument("--kind", choices=["flat", "ivfpq", "hnsw"], default="flat",
                   help="flat: exact; ivfpq: compact, approximate; hnsw: fast, approximate (default flat)")
    b.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine", help="default cosine")
    b.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="index parameter, repeatable: nlist, m, nbits, nprobe (ivfpq); M, ef_construction, "
                   "ef_search (hnsw)")
    b.add_argument("--camera-pattern", type=regex,
                   help=r"regex whose first group is the camera in a file name, e.g. 'c(\d+)'")
    b.set_defaults(func=run_build)

    a = inner.add_parser("add", help="extract more images into an existing index, with the index's model",
                         parents=[run_options(), shard_options()])
    a.add_argument("index", help="the index folder")
    a.add_argument("--images", required=True, help="folder of images to add")
    a.add_argument("--camera-pattern", type=regex, help=r"regex whose first group is the camera in a file name")
    a.set_defaults(func=run_add)

    s = inner.add_parser("search", help="the nearest gallery entries of every image of a folder",
                         parents=[run_options()])
    s.add_argument("index", help="the index folder")
    s.add_argument("--images", required=True, help="folder of query images")
    s.add_argument("--topk", type=positive_int, default=10, help="neighbours per query (default 10)")
    s.add_argument("--camera-pattern", type=regex, help=r"regex whose first group is the camera in a file name")
    s.add_argument("--exclude-same-camera", action="store_true", help="leave out the query's own camera")
    s.add_argument("--out", help="write the results to this .csv or .json file instead of printing them")
    s.set_defaults(func=run_search)

    i = inner.add_parser("info", help="what an index holds and how it was built")
    i.add_argument("index", help="the index folder")
    i.set_defaults(func=run_info)


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ReidError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = int(value)
        except ValueError:
            raise ReidError(f"--param {key}: expected an integer, got {value!r}") from None
    return out


def _card(args: argparse.Namespace, model: Any, weights: str) -> dict[str, Any]:
    return {
        "model": model.name,
        "weights": weights,
        "input_size": list(model.input_size),
        "mean": list(model.mean),
        "std": list(model.std),
        "feature_dim": model.feature_dim,
        "flip": bool(model.meta.test_flip),
        # how to build the same model again, for `index add` and `index search`
        "load": {"model": args.model, "weights": args.weights, "dataset": args.dataset, "source": args.source,
                 "random_init": bool(args.random_init), "seed": args.seed},
    }


def _model_from_card(index: Any, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    card = index.model_card or {}
    load = card.get("load")
    if not load:
        raise ReidError(f"{args.index} does not record the model it was built with; build it with `reid index build`")
    size = card.get("input_size")
    rebuilt = argparse.Namespace(**load, flip=card.get("flip", False), input_size=tuple(size) if size else None, amp=None)
    device = default_device(args.device)
    model, weights = build_model(rebuilt, device, load.get("dataset"))
    made = _card(rebuilt, model, weights)
    index.check_model_card(made)
    return model, made


def _cameras(index: Any, feats: Any, args: argparse.Namespace) -> None:
    """Give ``feats`` the index's camera ids: one mapping of camera labels for every folder added or searched.

    (Read per folder, camids would be numbered within that folder only: a query folder without
    camera 1 would shift every id.)
    """
    if not args.camera_pattern:
        return
    import torch

    pattern = re.compile(args.camera_pattern)
    mapping: dict[str, int] = dict(index.meta.fact("camera_labels", {}))
    ids = []
    for path in feats.paths:
        found = pattern.search(Path(path).name)
        label = found.group(1) if found and found.groups() else (found.group(0) if found else "")
        if label not in mapping:
            mapping[label] = len(mapping)
        ids.append(mapping[label])
    index.meta.set_fact("camera_labels", mapping)
    feats.camids = torch.tensor(ids, dtype=torch.int64)


def run_build(args: argparse.Namespace) -> int:
    from ..index import GalleryIndex

    params = _params(args.param)
    GalleryIndex(1, kind=args.kind, metric=args.metric, **params)  # refuse bad --param before any work
    check_model_name(args.model)
    out = Path(args.out)
    if (out / "CURRENT").exists():
        raise ReidError(f"{out} already holds an index: use `reid index add {out} --images ...`, or another --out")
    device = default_device(args.device)
    model, weights = build_model(args, device, args.dataset)
    card = _card(args, model, weights)
    feats = extract_folder(args, model, device)
    if feats is None:  # a rank other than 0: its shards are written, rank 0 builds the index
        return 0
    index = GalleryIndex(feats.feats.shape[1], kind=args.kind, metric=args.metric, model_card=card, **params)
    _cameras(index, feats, args)
    index.add(feats.feats, pids=feats.pids, camids=feats.camids, paths=feats.paths)
    index.save(out)
    print(f"{len(index)} images -> {out} ({args.kind}, {args.metric}, {feats.feats.shape[1]}-d; weights: {weights})")
    return 0


def run_add(args: argparse.Namespace) -> int:
    from ..index import GalleryIndex

    index = GalleryIndex.load(args.index)
    model, card = _model_from_card(index, args)  # at the index's input size and flip
    args.amp = None
    feats = extract_folder(args, model, default_device(args.device))
    if feats is None:
        return 0
    _cameras(index, feats, args)
    index.add(feats.feats, pids=feats.pids, camids=feats.camids, paths=feats.paths)
    index.save(args.index)
    print(f"added {len(feats)} images to {args.index}: {len(index)} in all")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from ..index import GalleryIndex

    if args.topk < 1:
        raise ReidError(f"--topk must be at least 1, got {args.topk}")
    if args.out and Path(args.out).suffix not in (".csv", ".json"):
        raise ReidError(f"--out must end in .csv or .json, got {args.out}")
    if args.exclude_same_camera and not args.camera_pattern:
        raise ReidError("--exclude-same-camera needs --camera-pattern to know the queries' cameras")
    index = GalleryIndex.load(args.index)
    model, card = _model_from_card(index, args)  # at the index's input size and flip
    args.amp = None
    feats = extract_folder(args, model, default_device(args.device))
    assert feats is not None
    _cameras(index, feats, args)
    dist, ids, records = index.search(feats.feats, args.topk, query_camids=feats.camids,
                                      exclude_same_camera=args.exclude_same_camera, model_card=card)
    rows = []
    for q, (d_row, hits) in enumerate(zip(dist, records or [])):
        for rank, (d, rec) in enumerate(zip(d_row, hits), start=1):
            rows.append({"query": feats.paths[q], "rank": rank, "distance": float(d), "id": rec["id"],
                         "path": rec["path"], "pid": rec["pid"], "camid": rec["camid"]})
    if args.out:
        _write_rows(Path(args.out), rows)
        print(f"{len(feats)} queries, top {args.topk} each -> {args.out}")
    else:
        for r in rows:
            print(f"{r['query']}\t{r['rank']}\t{r['distance']:.6f}\t{r['path']}")
    return 0


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
    elif path.suffix == ".csv":
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["query"])
            w.writeheader()
            w.writerows(rows)
    else:
        raise ReidError(f"--out must end in .csv or .json, got {path.name}")
    tmp.replace(path)


def run_info(args: argparse.Namespace) -> int:
    from ..index import GalleryIndex

    index = GalleryIndex.load(args.index)
    info = index.info()
    card = info.pop("model_card") or {}
    for key, value in info.items():
        print(f"{key:12s} {value}")
    for key in ("model", "weights", "input_size", "mean", "std", "feature_dim", "flip"):
        if key in card:
            print(f"{key:12s} {card[key]}")
    sys.stdout.flush()
    return 0
