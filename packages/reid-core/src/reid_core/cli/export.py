"""``reid export MODEL --dataset D --format onnx|torchscript --out FILE [--dynamic-batch] [--fp16]``."""

from __future__ import annotations

import argparse

import torch

from ..catalog import WeightsInfo
from ..errors import WeightsError
from ..export import FORMATS, export
from ..model import ReIDModel
from ..pretrained import load
from ..registry import create_model, model_info


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX or TorchScript and check it against PyTorch",
        description="Export the model (images in [0, 1] -> features; camera-aware models also take camids) "
        "and check the file against PyTorch at batch sizes 1, 4 and 17 (1e-4 relative error; 1e-2 with "
        "--fp16) before writing it.",
    )
    p.add_argument("model", help="zoo name, e.g. osnet_x1_0_dpr (see `reid list`)")
    p.add_argument("--dataset", help="load the catalogued weights trained on this dataset")
    p.add_argument("--weights", help="a checkpoint file or URL instead of the catalogued weights")
    p.add_argument("--random-init", action="store_true", help="export a randomly initialized model")
    p.add_argument("--source", help="catalogued weights source (default: seed)")
    p.add_argument("--seed", type=int, default=0, help="random seed of --random-init (default 0)")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="onnx (default) or torchscript")
    p.add_argument("--out", required=True, help="the file to write, e.g. model.onnx")
    p.add_argument("--dynamic-batch", action="store_true", help="ONNX: accept any batch size (checked at 1, 4 and 17)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size of a fixed-batch ONNX graph (default 1)")
    p.add_argument("--fp16", action="store_true", help="float16 weights and compute (inputs and outputs stay float32)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--device", default="cpu", help="where to trace the model (default cpu)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    p.set_defaults(func=run)


def _catalogued(name: str, dataset: str | None, source: str | None) -> WeightsInfo | None:
    if not dataset:
        return None
    info = model_info(name)
    return info.weights_from(source).get(dataset) if info.all_weights else None


def build(args: argparse.Namespace) -> tuple[ReIDModel, str]:
    """The model to export, in eval mode, and where its weights came from."""
    device = torch.device(args.device)
    if args.weights and args.random_init:
        raise WeightsError("give either --weights or --random-init, not both")
    if args.weights:
        return load(args.model, weights=args.weights, device=device), str(args.weights)
    record = _catalogued(args.model, args.dataset, args.source)
    if args.random_init:
        torch.manual_seed(args.seed)
        # the catalogued sizes, when there are any, so that the graph matches the published weights'
        sizes = {"num_classes": record.num_classes, "camera_num": record.camera_num} if record else {}
        return create_model(args.model, **sizes).to(device).eval(), "random-init"
    if not args.dataset:
        raise WeightsError("give --dataset (which catalogued weights to export), --weights PATH or --random-init")
    return load(args.model, args.dataset, source=args.source, device=device), f"catalog:{args.dataset}"


def run(args: argparse.Namespace) -> int:
    model, weights = build(args)
    kwargs = {"fp16": args.fp16, "batch_size": args.batch_size, "check": not args.no_check}
    if args.format == "onnx":
        kwargs.update(dynamic_batch=args.dynamic_batch, opset=args.opset)
    result = export(model, args.out, args.format, **kwargs)
    print(f"{model.name} (weights: {weights}) -> {result.summary()}")
    return 0
