"""``reid list``, ``reid info MODEL`` and ``reid download MODEL DATASET``."""

from __future__ import annotations

import argparse

from ..hub import fetch_weights
from ..pretrained import weights_record
from ..profile import count_inference, human
from ..registry import REGISTRY, create_model, list_models, model_info


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list installed models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. '*_R50*'")
    p.add_argument("--family", help="only this family")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.set_defaults(func=run_list)

    p = sub.add_parser("info", help="show a model's metadata and published weights")
    p.add_argument("model")
    p.add_argument("--no-count", action="store_true", help="skip building the model to count params/MACs")
    p.set_defaults(func=run_info)

    p = sub.add_parser("download", help="download a model's weights into the cache")
    p.add_argument("model")
    p.add_argument("dataset", help="market1501, dukemtmcreid or msmt17")
    p.add_argument("--source", help="weights source (default: seed)")
    p.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern, family=args.family, pretrained=True if args.pretrained else None)
    for name in names:
        info = model_info(name)
        datasets = ",".join(sorted(info.weights)) or "-"
        print(f"{name:42s} {info.family:10s} {info.feature_dim:5d}-d  weights: {datasets}")
    for ep, why in REGISTRY.failures.items():
        print(f"(family {ep!r} failed to load: {why})")
    return 0


def run_info(args: argparse.Namespace) -> int:
    info = model_info(args.model)
    print(f"model:         {info.name}")
    print(f"family:        {info.family} ({info.package})")
    print(f"input size:    {info.input_size[0]}x{info.input_size[1]} (H x W)")
    print(f"feature dim:   {info.feature_dim}")
    print(f"mean / std:    {tuple(round(m, 4) for m in info.mean)} / {tuple(round(s, 4) for s in info.std)}")
    print(f"camera aware:  {'yes' if info.camera_aware else 'no'}")
    if not args.no_count:
        model = create_model(info.name).eval()
        params, macs = count_inference(model, info.input_size, camids=info.camera_aware)
        print(f"params:        {human(params)} (used at inference)"
              + (f"   (published: {info.published['params']})" if "params" in info.published else ""))
        print(f"MACs:          {human(macs)}" + (f"   (published: {info.published['macs']})" if "macs" in info.published else ""))
    if info.notes:
        print(f"notes:         {info.notes}")
    if not info.all_weights:
        print("weights:       none published")
    for source in info.sources:
        print(f"weights ({source}):")
        for ds, w in sorted(info.weights_from(source).items()):
            m = w.metrics
            scores = "  ".join(f"{k} {m[k]:.3f}" for k in ("mAP", "top1", "mINP") if k in m)
            print(f"  {ds:13s} {scores}   classes {w.num_classes}" + (f", cameras {w.camera_num}" if w.camera_num else ""))
    return 0


def run_download(args: argparse.Namespace) -> int:
    record = weights_record(args.model, args.dataset, args.source)
    path = fetch_weights(record, what=f"{args.model} on {args.dataset}")
    print(path)
    return 0
