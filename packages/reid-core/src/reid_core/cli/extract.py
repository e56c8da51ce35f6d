"""``reid extract MODEL --images DIR --out feats.npz``: features of a folder of images."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import COMMANDS
from ._options import amp_options, input_options, regex, run_options, weights_options
from .eval import build_model, check_model_name, default_device, describe_input


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help=COMMANDS["extract"][1],
        description=(
            "Write feats [N, D], pids, camids and paths of every image under --images. Images in "
            "sub-folders get the sub-folder's index as pid (else -1); camids come from --camera-pattern (else 0)."
        ),
        parents=[weights_options(), input_options(), run_options(), amp_options()],
    )
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--dataset", help="load the model's catalogued weights trained on this dataset")
    p.add_argument("--camera-pattern", type=regex,
                   help=r"regex whose first group is the camera in a file name, e.g. 'c(\d+)'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import dataset_name
    from ..data.folder import image_records
    from ..extract import extract_features

    check_model_name(args.model)
    weights_of = dataset_name(args.dataset) if args.dataset else None
    device = default_device(args.device)
    records = image_records(args.images, camera_pattern=args.camera_pattern)
    model, weights = build_model(args, device, weights_of)
    feats = extract_features(
        model,
        records,
        batch_size=args.batch_size,
        device=device,
        amp=args.amp,
        num_workers=args.num_workers,
        progress=args.progress,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    feats.save(out)
    print(f"{len(feats)} images -> {out} ({feats.feats.shape[1]}-d features, weights: {weights}; {describe_input(model)})")
    return 0
