"""``reid extract MODEL --images DIR --out feats.npz``: features of a folder of images.

Under ``torchrun`` every rank extracts its shards of the folder and rank 0 merges them (see
:mod:`reid_core.sharding`); ``--shard-dir`` makes a single process resumable the same way.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..data import dataset_name
from ..data.folder import image_records
from ..errors import ReidError
from ..extract import Features, extract_features
from ..sharding import device_for, extract_shards, finish, init_ranks, merge_shards
from .eval import add_model_arguments, build_model, default_device


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract features of a folder of images into a .npz file",
        description=(
            "Write feats [N, D], pids, camids and paths of every image under --images. Images in "
            "sub-folders get the sub-folder's index as pid (else -1); camids come from --camera-pattern (else 0). "
            "Under torchrun, each rank extracts its shards and rank 0 merges them."
        ),
    )
    add_model_arguments(p)
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--dataset", help="load the model's catalogued weights trained on this dataset")
    p.add_argument("--camera-pattern", help=r"regex whose first group is the camera in a file name, e.g. 'c(\d+)'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_shard_arguments(p)
    p.set_defaults(func=run)


def add_shard_arguments(p: argparse.ArgumentParser) -> None:
    """Options of sharded, resumable extraction (shared with ``reid index``)."""
    p.add_argument("--shard-dir", help="extract in resumable shards into this folder (default under torchrun: "
                   "OUT.shards); a restarted job skips the shards already written")
    p.add_argument("--shard-size", type=int, default=4096, help="images per shard (default 4096)")
    p.add_argument("--keep-shards", action="store_true", help="keep the shard folder after merging")


def extract_folder(args: argparse.Namespace, model, device) -> Features | None:
    """Features of ``args.images``; sharded across torchrun ranks (``None`` on ranks other than 0)."""
    shard_dir, shard_size = getattr(args, "shard_dir", None), getattr(args, "shard_size", 4096)
    if shard_size < 1:
        raise ReidError(f"--shard-size must be at least 1, got {shard_size}")
    records = image_records(args.images, camera_pattern=args.camera_pattern)
    options = dict(batch_size=args.batch_size, amp=args.amp, flip=args.flip, num_workers=args.num_workers,
                   progress=not args.no_progress)
    ranks = init_ranks(device)
    if not ranks.distributed and not shard_dir:
        return extract_features(model, records, device=device, **options)
    device = device_for(device, ranks)
    model.to(device)
    shard_dir = Path(shard_dir or f"{args.out}.shards")
    card = {"model": model.name, "input_size": list(model.input_size), "flip": bool(args.flip),
            "weights": getattr(args, "weights", None), "dataset": getattr(args, "dataset", None)}
    try:
        paths = extract_shards(model, records, shard_dir, shard_size=shard_size, ranks=ranks,
                               model_card=card, device=device, **options)
    finally:
        finish(ranks)
    if ranks.rank != 0:
        return None
    feats = merge_shards(paths)
    if not getattr(args, "keep_shards", False):
        shutil.rmtree(shard_dir, ignore_errors=True)
    return feats


def run(args: argparse.Namespace) -> int:
    device = default_device(args.device)
    model, weights = build_model(args, device, dataset_name(args.dataset) if args.dataset else None)
    feats = extract_folder(args, model, device)
    if feats is None:
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    feats.save(out)
    print(f"{len(feats)} images -> {out} ({feats.feats.shape[1]}-d features, weights: {weights})")
    return 0
