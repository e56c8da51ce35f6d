"""``reid bench train MODEL``: training speed in images per second, with the model's own recipe.

The benchmark builds the real :class:`~reid_core.training.trainer.Trainer` for ``MODEL`` on the
synthetic dataset (its family's recipe: losses, optimizer, AMP, channels_last on CUDA) and times
its training step:

* *step only*: one batch of the training loader, already on the device, stepped again and again
  (forward, losses, backward, optimizer and scheduler);
* *end to end* (``--end-to-end``): the loader's batches, decoded and augmented by its workers.

The first steps are not timed (cuDNN autotuning, allocator warm-up). Batches are P x K with K = 4.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import tempfile
import time

import torch

HELP = "time training (images/s): the trainer's step with the model's recipe, optionally end to end"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name (trained from random weights)")
    p.add_argument("--batch-size", type=int, default=64, help="images per step, a multiple of 4 (default 64)")
    p.add_argument("--amp", action="store_true", help="mixed precision on CUDA (bf16 where supported, else fp16)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 50 on CUDA, 3 on CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 1 on CPU)")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="image size (default: the recipe's)")
    p.add_argument("--no-channels-last", action="store_true", help="keep the NCHW layout on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--end-to-end", action="store_true", help="also time with the data loader's batches")
    p.add_argument("--num-workers", type=int, default=4, help="loader workers for --end-to-end (default 4)")
    p.add_argument("--threads", type=int, default=None, help="CPU compute threads (default: torch's)")
    p.add_argument("opts", nargs="*", help="further KEY VALUE config overrides")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_trainer(args: argparse.Namespace, output: str) -> object:
    """A trainer for ``args.model`` on the synthetic dataset, set up for timing."""
    from ..train import build_config
    from ..training.trainer import Trainer

    if args.batch_size % 4:
        raise SystemExit(f"reid bench train: --batch-size must be a multiple of 4, got {args.batch_size}")
    opts = [
        "DATALOADER.SAMPLER", "pk", "DATALOADER.P", str(args.batch_size // 4), "DATALOADER.K", "4",
        "DATALOADER.NUM_WORKERS", str(args.num_workers if args.end_to_end else 0),
        "SOLVER.AMP", "auto" if args.amp else "off",
        "SOLVER.CHANNELS_LAST", str(not args.no_channels_last),
        "SOLVER.COMPILE", str(bool(args.compile)),
        "SOLVER.WARMUP_ITERS", "0", "TEST.EVAL_PERIOD", "0", "MODEL.DEVICE", args.device or "",
        "SOLVER.FREEZE_ITERS", "0", "SOLVER.FREEZE_EPOCHS", "0",  # time the full step, every layer learning
    ]
    if args.input_size:
        opts += ["INPUT.SIZE", f"({args.input_size[0]}, {args.input_size[1]})"]
    cfg = build_config(args.model, "synthetic", None, output_dir=output, opts=opts + list(args.opts))
    if args.input_size and "img_size" in cfg.MODEL.KWARGS:  # TransReID builds for one size
        cfg.MODEL.KWARGS.img_size = tuple(args.input_size)
    return Trainer(cfg, progress=False)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("reid_core.train").setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="reid-bench-train-") as out:
        trainer = build_trainer(args, out)
        device = trainer.device
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        cuda = device.type == "cuda"
        steps = args.steps or (50 if cuda else 3)
        warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
        h, w = trainer.cfg.INPUT.SIZE
        amp = str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else "off"
        print(f"{args.model} (recipe {trainer.cfg.MODEL.RECIPE}) on {device}, batch {args.batch_size}, "
              f"input 3x{h}x{w}, amp {amp}, channels_last {cuda and trainer.cfg.SOLVER.CHANNELS_LAST}, "
              f"compile {trainer.cfg.SOLVER.COMPILE}, {torch.get_num_threads()} CPU threads")
        batch = next(iter(trainer.loader))
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        for _ in range(warmup):
            trainer._step(batch)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer._step(batch)
        _sync(device)
        ips = args.batch_size * steps / (time.perf_counter() - t0)
        print(f"step only:   {ips:10.1f} images/s  ({steps} steps)")
        if cuda:
            print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
        if args.end_to_end:
            batches = itertools.chain.from_iterable(iter(trainer.loader) for _ in itertools.count())
            for _ in range(warmup):
                trainer._step(next(batches))
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                trainer._step(next(batches))
            _sync(device)
            e2e = args.batch_size * steps / (time.perf_counter() - t0)
            print(f"end to end:  {e2e:10.1f} images/s  ({steps} steps, {args.num_workers} loader workers)")
    return 0
