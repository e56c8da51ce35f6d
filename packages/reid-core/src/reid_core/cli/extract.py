"""``reid extract MODEL --images DIR --out feats.npz``: features of a folder of images.

Under ``torchrun`` every rank extracts its shards of the folder and rank 0 merges them (see
:mod:`reid_core.sharding`); ``--shard-dir`` makes a single process resumable the same way.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import COMMANDS
from ._options import Parser, amp_options, input_options, positive_int, regex, run_options, weights_options
from .eval import build_model, check_model_name, default_device, describe_input

if TYPE_CHECKING:
    from ..extract import Features


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help=COMMANDS["extract"][1],
        description=(
            "Write feats [N, D], pids, camids and paths of every image under --images. Images in "
            "sub-folders get the sub-folder's index as pid (else -1); camids come from --camera-pattern (else 0). "
            "Under torchrun, each rank extracts its shards and rank 0 merges them."
        ),
        parents=[weights_options(), input_options(), run_options(), amp_options(), shard_options()],
    )
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--dataset", help="load the model's catalogued weights trained on this dataset")
    p.add_argument("--camera-pattern", type=regex,
                   help=r"regex whose first group is the camera in a file name, e.g. 'c(\d+)'")
    p.set_defaults(func=run)


def shard_options() -> Parser:
    """Options of sharded, resumable extraction (shared with ``reid index``)."""
    p = Parser(add_help=False)
    g = p.add_argument_group("shards")
    g.add_argument("--shard-dir", help="extract in resumable shards into this folder (default under torchrun: "
                   "OUT.shards); a restarted job skips the shards already written")
    g.add_argument("--shard-size", type=positive_int, default=4096, help="images per shard (default 4096)")
    g.add_argument("--keep-shards", action="store_true", help="keep the shard folder after merging")
    return p


def extract_folder(args: argparse.Namespace, model: Any, device: Any) -> Features | None:
    """Features of ``args.images``; sharded across torchrun ranks (``None`` on ranks other than 0).

    The model runs at its ``input_size`` and test-time flip (``--input-size`` / ``--flip`` were
    applied when it was built).
    """
    import torch

    from ..data.folder import image_records
    from ..deploy.auto import resolve
    from ..extract import extract_features
    from ..sharding import device_for, extract_shards, finish, init_ranks, merge_shards

    shard_dir = getattr(args, "shard_dir", None)
    records = image_records(args.images, camera_pattern=args.camera_pattern)
    amp = getattr(args, "amp", None)
    options = dict(batch_size=args.batch_size, amp=amp, num_workers=args.num_workers, progress=args.progress)
    ranks = init_ranks(device)
    device = device_for(device, ranks) if ranks.distributed or shard_dir else torch.device(device)
    model.to(device)
    # one backend for the whole job, whatever size its shards have
    amp_on = device.type == "cuda" if amp is None else bool(amp)
    options["backend"] = resolve(model, getattr(args, "backend", "auto"), device, images=len(records), amp=amp_on)
    if not ranks.distributed and not shard_dir:
        return extract_features(model, records, device=device, **options)
    shard_dir = Path(shard_dir or f"{args.out}.shards")
    card = {"model": model.name, "input_size": list(model.input_size), "flip": bool(model.meta.test_flip),
            "weights": getattr(args, "weights", None), "dataset": getattr(args, "dataset", None)}
    try:
        paths = extract_shards(model, records, shard_dir, shard_size=getattr(args, "shard_size", 4096), ranks=ranks,
                               model_card=card, device=device, **options)
    finally:
        finish(ranks)
    if ranks.rank != 0:
        return None
    feats = merge_shards(paths)
    feats.backend = options["backend"]
    if not getattr(args, "keep_shards", False):
        shutil.rmtree(shard_dir, ignore_errors=True)
    return feats


def run(args: argparse.Namespace) -> int:
    from ..data import dataset_name

    check_model_name(args.model)
    weights_of = dataset_name(args.dataset) if args.dataset else None
    device = default_device(args.device)
    model, weights = build_model(args, device, weights_of)
    feats = extract_folder(args, model, device)
    if feats is None:
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    feats.save(out)
    print(f"{len(feats)} images -> {out} ({feats.feats.shape[1]}-d features, weights: {weights}; {describe_input(model)}; "
          f"run with {feats.backend})")
    return 0
