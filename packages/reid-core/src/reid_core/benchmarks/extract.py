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
    p.add_argument("model", help="zoo name (built with random weights unless --weights)")
    p.add_argument("--weights", help="a checkpoint to load (e.g. the demo's trained model; it sets the input size); "
                   "with --backend, int8 and fp16 rows then report the synthetic mAP with these weights")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--amp", action="store_true", help="fp16 autocast on CUDA (bf16 on CPU)")
    p.add_argument("--batches", type=int, default=None, help="timed batches (default: 30 on CUDA, 5 on CPU)")
    p.add_argument("--num-workers", type=int, default=None, help="decoding workers (default: one per core, up to 8)")
    p.add_argument("--decode", default="cpu", choices=["cpu", "cuda"], help="where JPEG files are decoded (default cpu)")
    p.add_argument("--no-end-to-end", action="store_true", help="time the model alone")
    p.add_argument("--num-ids", type=int, default=200, help="identities of the synthetic dataset read end to end (default 200)")
    p.add_argument("--backend", action="append", choices=["torch", "onnxruntime", "openvino", "tensorrt"],
                   help="compare inference backends side by side on the same batches (repeatable); "
                   "PyTorch eager is always measured as the baseline")
    p.add_argument("--precision", action="append", choices=["fp32", "fp16", "int8"],
                   help="precisions to run each --backend at (repeatable; default fp32)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the fastest counts (default 3)")


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


def _timed(fn, repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def compare_backends(args: argparse.Namespace) -> list[dict]:
    """Throughput at ``--batch-size`` and latency at batch 1 of each backend, on the same images."""
    import numpy as np

    from ..deploy import Embedder

    device = torch.device(args.device)
    model = _model(args)
    h, w = model.input_size
    batch = np.random.default_rng(0).random((args.batch_size, 3, h, w), dtype=np.float32)
    one = batch[:1]
    cams = np.zeros(args.batch_size, dtype=np.int64)
    batches = args.batches or 3
    rows = []

    @torch.no_grad()
    def eager(x: np.ndarray) -> None:
        t = torch.from_numpy(x).to(device)
        kwargs = {"camids": torch.from_numpy(cams[: len(x)]).to(device)} if model.camera_aware else {}
        model.to(device)(t, **kwargs)
        _sync(device)

    def measure(name: str, precision: str, fn, parity: str) -> dict:
        fn(one)  # warm-up
        fn(batch)
        many = _timed(lambda: [fn(batch) for _ in range(batches)], args.repeat)
        lat1 = _timed(lambda: fn(one), max(args.repeat, 5))
        lat_b = many / batches
        row = {"backend": name, "precision": precision, "images_per_s": args.batch_size * batches / many,
               "latency_1_ms": 1e3 * lat1, f"latency_{args.batch_size}_ms": 1e3 * lat_b, "parity": parity}
        rows.append(row)
        return row

    base = measure("eager", "fp32", eager, "reference")
    print(f"{args.model} ({args.weights or 'random weights'}), input 3x{h}x{w}, batch {args.batch_size}, {device}, "
          f"{torch.get_num_threads()} threads; fastest of {args.repeat} runs of {batches} batches")
    print(f"{'backend':12s} {'precision':9s} {'images/s':>10s} {'vs eager':>9s} {'batch 1 ms':>11s} "
          f"{'batch ' + str(args.batch_size) + ' ms':>12s}  parity")

    def show(r: dict) -> None:
        print(f"{r['backend']:12s} {r['precision']:9s} {r['images_per_s']:10.1f} "
              f"{r['images_per_s'] / base['images_per_s']:8.2f}x {r['latency_1_ms']:11.2f} "
              f"{r[f'latency_{args.batch_size}_ms']:12.1f}  {r['parity']}")

    show(base)
    for backend in args.backend:
        for precision in args.precision or ["fp32"]:
            try:
                embed = Embedder(model, backend=backend, precision=precision, device=device,
                                 batch_size=args.batch_size)
            except Exception as e:  # one backend that cannot run here must not hide the others
                print(f"{backend:12s} {precision:9s} not run: {e}")
                continue
            parity = embed.parity.summary().split(": ", 1)[1] if embed.parity else "-"
            show(measure(backend, precision, lambda x, e=embed: e.backend(x, cams[: len(x)]), parity))
    for r in rows:
        r["vs_eager"] = r["images_per_s"] / base["images_per_s"]
    return rows


def _model(args: argparse.Namespace) -> torch.nn.Module:
    if args.weights:
        from ..pretrained import load

        return load(args.model, None, weights=args.weights).eval()
    torch.manual_seed(0)
    return create_model(args.model).eval()


def run(args: argparse.Namespace) -> int:
    if args.backend:
        compare_backends(args)
        return 0
    device = torch.device(args.device)
    batches = args.batches or (30 if device.type == "cuda" else 5)
    model = _model(args).to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    h, w = model.input_size
    print(f"{args.model} ({args.weights or 'random weights'}) on {device}, batch {args.batch_size}, amp {'on' if args.amp else 'off'}, "
          f"input 3x{h}x{w}, {torch.get_num_threads()} CPU threads")
    ips = model_only(model, device, args.batch_size, batches, args.amp)
    print(f"model only:  {ips:10.1f} images/s  ({batches} batches)")
    if not args.no_end_to_end:
        e2e, n = end_to_end(model, device, args, batches)
        print(f"end to end:  {e2e:10.1f} images/s  ({n} JPEG files, decode on {args.decode}); "
              f"model only / end to end = {ips / e2e:.2f}")
    return 0
