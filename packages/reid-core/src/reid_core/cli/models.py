"""``reid list``, ``reid info MODEL`` and ``reid download MODEL DATASET``."""

from __future__ import annotations

import argparse
import fnmatch
from itertools import combinations
from typing import TYPE_CHECKING, Any

from . import COMMANDS
from ._options import UsageError

if TYPE_CHECKING:
    from torch import nn

    from ..catalog import ModelInfo

#: what ``reid list --licence`` and ``reid info`` print for a record that names no licence
NO_LICENCE = "none stated"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help=COMMANDS["list"][1])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. '*_R50*'")
    p.add_argument("--family", help="only this family")
    p.add_argument("--pretrained", action="store_true", help="only models with published weights")
    p.add_argument("--licence", "--license", action="store_true", dest="licence",
                   help="add a column with the licence(s) of the published weights")
    p.set_defaults(func=run_list)

    p = sub.add_parser("info", help=COMMANDS["info"][1])
    p.add_argument("model")
    p.add_argument("--no-count", action="store_true", help="skip building the model to count params/MACs")
    p.set_defaults(func=run_info)

    p = sub.add_parser("download", help=COMMANDS["download"][1])
    p.add_argument("model")
    p.add_argument("dataset", help="market1501, dukemtmcreid or msmt17")
    p.add_argument("--source", help="weights source (default: seed)")
    p.set_defaults(func=run_download)


def licences(info: ModelInfo) -> str:
    """The licences of a model's published files, e.g. ``"MIT"`` or ``"Apache-2.0, none stated"``; ``-``: no files."""
    if not info.all_weights:
        return "-"
    return ", ".join(sorted({w.licence or NO_LICENCE for w in info.all_weights}))


def run_list(args: argparse.Namespace) -> int:
    from ..registry import REGISTRY, list_families, list_models, model_info

    if args.family is not None:
        families = sorted(list_families())
        if args.family not in families:
            raise UsageError(f"argument --family: no installed family {args.family!r}; installed: {', '.join(families)}")
    names = list_models(args.pattern, family=args.family, pretrained=True if args.pretrained else None)
    for name in names:
        info = model_info(name)
        datasets = ",".join(sorted(info.weights)) or "-"
        line = f"{name:42s} {info.family:10s} {info.feature_dim:5d}-d  weights: {datasets}"
        if args.licence:
            line = f"{line:90s} licence: {licences(info)}"
        print(line)
    for ep, why in REGISTRY.failures.items():
        print(f"(family {ep!r} failed to load: {why})")
    return 0


def param_parts(model: nn.Module, input_size: tuple[int, int], camids: bool) -> dict[str, Any]:
    """The model's parameters split by what an eval forward pass does with them.

    ``inference``: held by modules the pass runs, the classifier (``classifier_keys``) excluded;
    ``classifier``: the training classifier; ``unused``: held by modules the pass does not run
    (e.g. an ImageNet ``fc`` kept for checkpoint compatibility), with ``unused_names``;
    ``bn``: the part of ``inference`` held by BatchNorm layers.
    """
    import torch
    from torch import nn

    clf = tuple(getattr(model, "classifier_keys", ()))
    ran: set[nn.Module] = set()
    hooks = [m.register_forward_pre_hook(lambda mod, _args: ran.add(mod)) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.rand(1, 3, *input_size)
            model(x, camids=torch.zeros(1, dtype=torch.long)) if camids else model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    parts: dict[str, Any] = {"inference": 0, "classifier": 0, "unused": 0, "bn": 0, "unused_names": []}
    for mod_name, mod in model.named_modules():
        for p_name, p in mod.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if any(fnmatch.fnmatchcase(full, s) for s in clf):
                parts["classifier"] += p.numel()
            elif mod in ran:
                parts["inference"] += p.numel()
                if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                    parts["bn"] += p.numel()
            else:
                parts["unused"] += p.numel()
                if mod_name not in parts["unused_names"]:
                    parts["unused_names"].append(mod_name)
    return parts


def _millions(text: str) -> float | None:
    text = str(text).strip()
    scale = {"K": 1e-3, "M": 1.0, "G": 1e3}.get(text[-1:].upper())
    try:
        return float(text[:-1]) * scale if scale else float(text) / 1e6
    except ValueError:
        return None


def explain_params(parts: dict[str, Any], published: str) -> str:
    """Why the published parameter count differs from the measured one (``""`` when they agree)."""
    from ..profile import human

    target = _millions(published)
    if target is None:
        return f"the published value {published!r} is not a count"
    base = parts["inference"]
    if abs(base / 1e6 - target) < 0.0006:
        return ""
    terms = {
        "classifier": (parts["classifier"], f"includes the training classifier ({human(parts['classifier'])})"),
        "unused": (parts["unused"], f"includes modules that eval does not run ({human(parts['unused'])}: "
                   f"{', '.join(parts['unused_names'][:4])})"),
        "bn": (-parts["bn"], f"leaves out the BatchNorm layers ({human(parts['bn'])}), as a counter that "
               "matches exact module types (such as thop) does when the upstream code subclasses BatchNorm "
               "(fast-reid's BatchNorm does)"),
    }
    present = [k for k, (n, _) in terms.items() if n]
    for size in (1, 2, 3):
        for combo in combinations(present, size):
            if abs((base + sum(terms[k][0] for k in combo)) / 1e6 - target) < 0.0006:
                return "the published count " + " and ".join(terms[k][1] for k in combo)
    diff = target * 1e6 - base
    return (f"the published count is {'+' if diff > 0 else '-'}{human(abs(diff))} off; neither the classifier, "
            "modules eval does not run nor the BatchNorm layers explain it (upstream counted differently)")


def run_info(args: argparse.Namespace) -> int:
    from ..registry import create_model, model_info

    info = model_info(args.model)
    print(f"model:         {info.name}")
    print(f"family:        {info.family} ({info.package})")
    print(f"input size:    {info.input_size[0]}x{info.input_size[1]} (H x W)")
    print(f"feature dim:   {info.feature_dim}")
    print(f"mean / std:    {tuple(round(m, 4) for m in info.mean)} / {tuple(round(s, 4) for s in info.std)}")
    print(f"camera aware:  {'yes' if info.camera_aware else 'no'}")
    print(f"licence:       {licences(info) if info.all_weights else 'no published weights'}")
    if not args.no_count:
        from ..profile import count_inference, human

        model = create_model(info.name).eval()
        _, macs = count_inference(model, info.input_size, camids=info.camera_aware)
        parts = param_parts(model, info.input_size, info.camera_aware)
        published = info.published.get("params")
        print(f"params:        {human(parts['inference'])} used at inference (classifier excluded)"
              + (f"   (published: {published})" if published else ""))
        why = explain_params(parts, published) if published else ""
        if why:
            print(f"               {why}")
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
            size = f", input {w.input_size[0]}x{w.input_size[1]}" if w.input_size else ""
            print(f"  {ds:13s} {scores}   classes {w.num_classes}" + (f", cameras {w.camera_num}" if w.camera_num else "")
                  + f"{size}, licence {w.licence or NO_LICENCE}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from ..hub import fetch_weights
    from ..pretrained import weights_record

    record = weights_record(args.model, args.dataset, args.source)
    path = fetch_weights(record, what=f"{args.model} on {args.dataset}")
    print(path)
    return 0
