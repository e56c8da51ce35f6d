"""``reid bench extract MODEL``: feature extraction speed, model only and end to end from JPEG files.

*Model only* times forward passes on a batch already on the device (channels_last and fp16
autocast on CUDA when ``--amp``). *End to end* times :func:`reid_core.extract_features` over JPEG
files of the synthetic dataset (128 x 64, like Market-1501's), decoding, resizing, copying and
running the model, after one untimed warm-up batch.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from ..data.synthetic import synthetic
from ..extract import extract_features
from ..registry import create_model

HELP = "time feature extraction (images/s): the model alone, and end to end from JPEG files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name (built with random weights)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--amp", action="store_true", help="fp16 autocast on CUDA (bf16 on CPU)")
    p.add_argument("--batches", type=int, default=None, help="timed batches (default: 30 on CUDA, 5 on CPU)")
    p.add_argument("--num-workers", type=int, default=None, help="decoding workers (default: one per core, up to 8)")
    p.add_argument("--decode", default="cpu", choices=["cpu", "cuda"], help="where JPEG files are decoded (default cpu)")
    p.add_argument("--no-end-to-end", action="store_true", help="time the model alone")
    p.add_argument("--num-ids", type=int, default=200, help="identities of the synthetic dataset read end to end (default 200)")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def model_only(model: torch.nn.Module, device: torch.device, batch_size: int, batches: int, amp: bool) -> float:
    """Images per second of the forward pass alone."""
    h, w = model.input_size
    x = torch.rand(batch_size, 3, h, w, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    kwargs = {"camids": torch.zeros(batch_size, dtype=torch.long, device=device)} if model.camera_aware else {}
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    with torch.autocast(device.type, dtype=dtype, enabled=amp):
        for _ in range(3 if device.type == "cuda" else 1):
            model(x, **kwargs)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(batches):
            model(x, **kwargs)
        _sync(device)
    return batch_size * batches / (time.perf_counter() - t0)


def end_to_end(model: torch.nn.Module, device: torch.device, args: argparse.Namespace, batches: int) -> tuple[float, int]:
    """Images per second of extract_features over JPEG files, and how many files were read."""
    ds = synthetic(num_ids=args.num_ids)
    pool = ds.train + ds.query + ds.gallery
    n = args.batch_size * batches
    records = list(itertools.islice(itertools.cycle(pool), n))
    common = {"batch_size": args.batch_size, "device": device, "amp": args.amp, "num_workers": args.num_workers,
              "decode": args.decode, "progress": False}
    extract_features(model, records[: args.batch_size], **common)  # warm-up: workers, cudnn, nvjpeg
    _sync(device)
    t0 = time.perf_counter()
    extract_features(model, records, **common)
    _sync(device)
    return n / (time.perf_counter() - t0), n


def run(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    batches = args.batches or (30 if device.type == "cuda" else 5)
    model = create_model(args.model).eval().to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    h, w = model.input_size
    print(f"{args.model} (random weights) on {device}, batch {args.batch_size}, amp {'on' if args.amp else 'off'}, "
          f"input 3x{h}x{w}, {torch.get_num_threads()} CPU threads")
    ips = model_only(model, device, args.batch_size, batches, args.amp)
    print(f"model only:  {ips:10.1f} images/s  ({batches} batches)")
    if not args.no_end_to_end:
        e2e, n = end_to_end(model, device, args, batches)
        print(f"end to end:  {e2e:10.1f} images/s  ({n} JPEG files, decode on {args.decode}); "
              f"model only / end to end = {ips / e2e:.2f}")
    return 0
