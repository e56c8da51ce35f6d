"""``reid export MODEL --dataset D --format onnx|torchscript --out FILE [--dynamic-batch] [--fp16]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import COMMANDS
from ._options import Parser, UsageError, device, input_options, positive_int, weights_options
from .eval import check_model_name

if TYPE_CHECKING:
    from ..catalog import WeightsInfo
    from ..model import ReIDModel

#: what ``--format`` accepts (reid_core.export.FORMATS; repeated so that parsing needs no torch)
FORMATS = ("onnx", "torchscript")


def add_parser(sub: argparse._SubParsersAction) -> None:
    graph = Parser(add_help=False)
    g = graph.add_argument_group("graph")
    g.add_argument("--format", default="onnx", choices=FORMATS, help="onnx (default) or torchscript")
    g.add_argument("--out", required=True, help="the file to write, e.g. model.onnx")
    g.add_argument("--dynamic-batch", action="store_true", help="ONNX: accept any batch size (checked at 1, 4 and 17)")
    g.add_argument("--batch-size", type=positive_int, default=1, help="batch size of a fixed-batch ONNX graph (default 1)")
    g.add_argument("--fp16", action="store_true", help="float16 weights and compute (inputs and outputs stay float32)")
    g.add_argument("--opset", type=positive_int, help="ONNX opset (default: the exporter's)")
    g.add_argument("--device", type=device, default="cpu", help="where to trace the model (default cpu)")
    g.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    p = sub.add_parser(
        "export",
        help=COMMANDS["export"][1],
        description="Export the model (images in [0, 1] -> features; camera-aware models also take camids) "
        "and check the file against PyTorch at batch sizes 1, 4 and 17 (1e-4 relative error; 1e-2 with "
        "--fp16) before writing it. The graph takes images at the size the weights were trained at "
        "(--input-size to change it).",
        parents=[weights_options(), input_options(flip=False), graph],
    )
    p.add_argument("--dataset", help="load the catalogued weights trained on this dataset")
    p.set_defaults(func=run)


def _catalogued(name: str, dataset: str | None, source: str | None) -> WeightsInfo | None:
    from ..registry import model_info

    if not dataset:
        return None
    info = model_info(name)
    return info.weights_from(source).get(dataset) if info.all_weights else None


def build(args: argparse.Namespace) -> tuple[ReIDModel, str]:
    """The model to export, in eval mode, and where its weights came from."""
    import torch

    from ..pretrained import load, set_input
    from ..registry import create_model

    where = torch.device(args.device)
    size = args.input_size
    if args.weights and args.random_init:
        raise UsageError("give either --weights or --random-init, not both")
    if args.weights:
        return load(args.model, weights=args.weights, device=where, input_size=size), str(args.weights)
    record = _catalogued(args.model, args.dataset, args.source)
    if args.random_init:
        torch.manual_seed(args.seed)
        # the catalogued sizes, when there are any, so that the graph matches the published weights'
        sizes = {"num_classes": record.num_classes, "camera_num": record.camera_num} if record else {}
        model = create_model(args.model, **sizes).to(where).eval()
        return set_input(model, input_size=size or (record.input_size if record else None)), "random-init"
    if not args.dataset:
        raise UsageError("give --dataset (which catalogued weights to export), --weights PATH or --random-init")
    return load(args.model, args.dataset, source=args.source, device=where, input_size=size), f"catalog:{args.dataset}"


def run(args: argparse.Namespace) -> int:
    from ..export import export

    check_model_name(args.model)
    model, weights = build(args)
    kwargs = {"fp16": args.fp16, "batch_size": args.batch_size, "check": not args.no_check}
    if args.format == "onnx":
        kwargs.update(dynamic_batch=args.dynamic_batch, opset=args.opset)
    result = export(model, args.out, args.format, **kwargs)
    h, w = model.input_size
    print(f"{model.name} (weights: {weights}; input {h}x{w}) -> {result.summary()}")
    return 0
