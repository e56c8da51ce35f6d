"""``reid demo``: the project's main job on its embedded default, in a few minutes on a CPU.

It generates the synthetic dataset (or reuses the cached one), scores a colour-histogram
baseline and ``osnet_x0_25_dpr`` at random initialization, trains the model, scores it again,
prints the before/after table and writes rank-list images of the trained model (when
matplotlib is installed).

Training runs in ``--processes`` processes (default: one per CPU core, at most 2) under
``torchrun`` and PyTorch DDP, one compute thread each: on a small CPU, two single-threaded
processes get through more images than one process with two threads, whose threads mostly wait
for each other (measured on 2 cores: 309 against about 240 images/s). The processes read their
own images (no loader workers): the images are small, and a worker process per rank would
compete for the same two cores (309 against 279 images/s). Training stops after
``--time-limit`` seconds if the ``--epochs`` are not done by then (a busy machine); the learning
rate follows a cosine over the epochs, so a cut-short run ends at a higher rate, which at this
budget scores better than a schedule squeezed into the time left (``SOLVER.SCHED_BY_TIME``).
The demo's config is :data:`DEMO_OPTS` over the model's recipe.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import ReidError

MODEL = "osnet_x0_25_dpr"

#: The demo's overrides of the model's recipe (``KEY VALUE`` pairs, as on the command line).
#: ``DATALOADER.P`` is the identities of the whole batch; each process takes its share.
DEMO_OPTS: list[str] = [
    "MODEL.PRETRAINED", "none",  # from scratch: the synthetic set needs no download
    "INPUT.SIZE", "(96, 48)",
    "INPUT.PADDING", "0",
    "INPUT.REA_PROB", "0.0",
    "INPUT.COLOR_JITTER", "True",
    "DATALOADER.SAMPLER", "pk",
    "DATALOADER.P", "16",
    "DATALOADER.K", "4",
    "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.OPTIM", "Adam",
    "SOLVER.BASE_LR", "0.006",
    "SOLVER.SCHED", "cosine",
    "SOLVER.WARMUP_ITERS", "20",
    "SOLVER.FREEZE_EPOCHS", "0",
    "SOLVER.FIND_UNUSED_PARAMETERS", "False",
    "LOSS.CE_EPSILON", "0.1",
    "LOSS.TRI_WEIGHT", "0.0",
    "TEST.EVAL_PERIOD", "-1",
    "TEST.BATCH_SIZE", "128",
    "TEST.FLIP", "True",
    "KEEP_LAST", "1",
    "LOG_PERIOD", "10",
]
DEFAULT_EPOCHS = 45
#: seconds: with about 20 s of set-up and scoring, the demo stays under 5 minutes on a busy machine
DEFAULT_TIME_LIMIT = 230.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train a small model on the synthetic dataset and show before/after (minutes, CPU)")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"training epochs (default {DEFAULT_EPOCHS})")
    p.add_argument("--output", default="reid-demo", help="folder for the checkpoint, logs and images (default ./reid-demo)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--processes", type=int, default=None,
                   help="training processes (DDP); default: one per CPU core, at most 2 (1 on cuda)")
    p.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT,
                   help=f"stop training after this many seconds even if epochs remain (default {DEFAULT_TIME_LIMIT:.0f}; 0: none)")
    p.add_argument("--no-images", action="store_true", help="skip the rank-list images")
    p.add_argument("opts", nargs="*", help="further KEY VALUE config overrides")
    p.set_defaults(func=run)


def _metrics(result: Any) -> dict[str, float]:
    return {"mAP": float(result.mAP), "rank-1": float(result.cmc[0]), "rank-5": float(result.cmc[4]),
            "mINP": float(result.mINP)}


def _table(rows: list[tuple[str, dict[str, float]]]) -> str:
    keys = ["mAP", "rank-1", "rank-5", "mINP"]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'':<{width}}  " + "  ".join(f"{k:>7}" for k in keys)]
    for name, m in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{100 * m[k]:6.1f}%" for k in keys))
    return "\n".join(lines)


def _default_processes(device: str) -> int:
    if device != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, cores))


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 (or the training processes' exit code when they fail)."""
    from ..data import synthetic
    from ..data.synthetic import color_histogram_features
    from ..evaluation import evaluate_features
    from ..extract import extract_features
    from ..registry import create_model
    from ..train import build_config
    from ..training.checkpoint import CheckpointManager

    t0 = time.perf_counter()

    def stamp() -> str:
        return f"[{time.perf_counter() - t0:4.0f}s]"

    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = Path(args.output)
    processes = args.processes or _default_processes(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"reid demo: {MODEL} on the synthetic dataset; {os.cpu_count()} CPU cores (load {load:.1f}), "
          f"{processes} training process(es); output in {out}/")
    try:
        dataset = synthetic()
        print(f"{stamp()} dataset: {len(dataset.train)} training images of {dataset.num_train_pids} people; "
              f"{len(dataset.query)} queries and {len(dataset.gallery)} gallery images of others ({dataset.root})")

        q_pids = [r.pid for r in dataset.query]
        g_pids = [r.pid for r in dataset.gallery]
        q_cams = [r.camid for r in dataset.query]
        g_cams = [r.camid for r in dataset.gallery]
        hist = color_histogram_features(list(dataset.query) + list(dataset.gallery))
        nq = len(dataset.query)
        rows = [("colour histogram", _metrics(evaluate_features(hist[:nq], hist[nq:], q_pids, g_pids, q_cams, g_cams)))]

        opts = DEMO_OPTS + ["SOLVER.MAX_EPOCHS", str(args.epochs), "MODEL.DEVICE", args.device,
                            "SOLVER.MAX_SECONDS", str(args.time_limit)] + list(args.opts)
        cfg = build_config(MODEL, "synthetic", None, output_dir=out / "train", opts=opts)
        size = tuple(cfg.INPUT.SIZE)
        torch.manual_seed(cfg.SEED)
        model = create_model(MODEL, num_classes=dataset.num_train_pids)
        device = torch.device("cuda" if args.device == "cuda" else "cpu")
        model.to(device)

        def score(label: str) -> tuple[Any, Any]:
            common = {"batch_size": cfg.TEST.BATCH_SIZE, "num_workers": cfg.DATALOADER.NUM_WORKERS,
                      "input_size": size, "flip": cfg.TEST.FLIP, "progress": False}
            q = extract_features(model, dataset.query, desc="query", **common)
            g = extract_features(model, dataset.gallery, desc="gallery", **common)
            rows.append((label, _metrics(evaluate_features(q.feats, g.feats, q.pids, g.pids, q.camids, g.camids))))
            return q, g

        score(f"{MODEL}, random init")
        print(f"{stamp()} scored the colour histogram and the untrained model; training {args.epochs} epochs "
              f"(at most {args.time_limit:.0f}s)")
        started = time.perf_counter()
        if processes > 1:
            code = _train_ddp(cfg, opts, processes, out)
            if code:
                return code
        else:
            _train_here(cfg)
        spent = time.perf_counter() - started
        state = CheckpointManager(out / "train" / "checkpoints").load()
        model.load_state_dict(state["model"])
        images = state["iteration"] * cfg.DATALOADER.P * cfg.DATALOADER.K
        done = f"{state['epoch']} epochs" + (f" and {state['iter_in_epoch']} steps (time limit)" if state["iter_in_epoch"] else "")
        print(f"{stamp()} trained {done}, {state['iteration']} steps of {cfg.DATALOADER.P * cfg.DATALOADER.K} images, "
              f"in {spent:.0f}s: {images / spent:.0f} images/s")
        q, g = score(f"{MODEL}, trained")

        print()
        print(_table(rows))
        print()
        print(f"checkpoint: {out / 'train' / 'checkpoints' / 'last.pth'}")
        if not args.no_images:
            _rank_lists(q, g, out / "ranklists", size)
    finally:
        torch.set_num_threads(threads_before)
    print(f"{stamp()} done")
    return 0


def _train_here(cfg: Any) -> None:
    from ..training.trainer import Trainer

    logging.getLogger("reid_core.train").setLevel(logging.WARNING)
    Trainer(cfg, progress=True).run()


def _train_ddp(cfg: Any, opts: list[str], processes: int, out: Path) -> int:
    """Train under ``torchrun`` with ``processes`` single-threaded CPU processes; returns their exit code."""
    per_rank = max(1, cfg.DATALOADER.P // processes)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
        "-m", "reid_core.train", MODEL, "--dataset", "synthetic", "--output", str(out / "train"),
        *opts, "DATALOADER.P", str(per_rank),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, check=False)
    if proc.returncode:
        print(f"reid demo: training failed (exit code {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
    return proc.returncode


def _rank_lists(q: Any, g: Any, folder: Path, size: tuple[int, int]) -> None:
    """Write rank-list PNGs of a few queries (skipped, with a note, without matplotlib)."""
    try:
        from ..viz import rank_gallery, rank_list_figure
        from ..viz.figure import save_figure
    except ImportError as e:
        print(f"rank lists skipped: {e}")
        return
    picks = torch.linspace(0, len(q) - 1, 8).round().long().tolist()
    ranks = rank_gallery(q, g, topk=8)
    chosen = [ranks[i] for i in picks]
    paths = []
    try:
        for n in range(0, len(chosen), 4):
            fig = rank_list_figure(chosen[n : n + 4], topk=8, size=size, dpi=60)
            paths.append(save_figure(fig, folder / f"ranklist_{n // 4:03d}.png"))
    except (ImportError, ReidError) as e:
        print(f"rank lists skipped: {e}")
        return
    print(f"rank lists: {', '.join(str(p) for p in paths)}")
