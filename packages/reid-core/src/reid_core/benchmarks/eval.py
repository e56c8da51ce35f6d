"""``reid bench eval``: speed and memory of the evaluation engine against a plain numpy loop.

Synthetic features with the shape of a real benchmark: identities are points on the sphere, grouped
into look-alike clusters, each image is its identity plus a camera bias plus noise, and some gallery
images are distractors that belong to nobody. The default noise gives scores close to those of a
strong published model on that benchmark (Market-1501: mAP ~0.9, mINP ~0.6; MSMT17: mAP ~0.6,
mINP ~0.1), so true matches sit about where they sit in real rankings, which is what the metric
time depends on.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluation import evaluate_distmat, evaluate_features
from ..evaluation._memory import default_budget
from ..evaluation.distance import GalleryDistance
from ..evaluation.evaluate import dense_rows
from ..evaluation.ranking import RankAccumulator

HELP = "time CMC/mAP/mINP evaluation (distances + metrics) against a per-query numpy reference"


@dataclass(frozen=True)
class Size:
    """The shape of a benchmark's test split."""

    num_query: int
    num_gallery: int
    num_ids: int
    num_cams: int
    num_distractors: int = 0
    noise: float = 1.3
    """default per-image noise (see :func:`synthetic`)"""


SIZES = {
    "market": Size(3368, 15913, 750, 6, 2798, noise=1.1),
    "msmt": Size(11659, 82161, 3060, 15, noise=1.55),
}

#: queries the numpy reference runs on at most; beyond that its times are extrapolated
REFERENCE_QUERIES = 2000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="market",
                   help="'market' (3368 x 15913), 'msmt' (11659 x 82161) or 'Q,G,D' (queries, gallery, dim)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--dim", type=int, default=None, help="feature dimension (default 256, or D of --size Q,G,D)")
    p.add_argument("--metric", default="cosine", choices=["cosine", "euclidean"])
    p.add_argument("--noise", type=float, default=None,
                   help="per-image noise relative to the identity signal; larger is harder "
                        "(default: 1.1 market, 1.55 msmt, 1.3 otherwise)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each step; the best is reported")
    p.add_argument("--reference-queries", type=int, default=REFERENCE_QUERIES,
                   help="queries the numpy reference runs on before its time is extrapolated")
    p.add_argument("--no-reference", action="store_true", help="skip the numpy reference")
    p.add_argument("--matrix-limit", type=float, default=4.0,
                   help="GiB up to which the full distance matrix is built to time the metrics alone (default 4)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)


def parse_size(text: str, dim: int | None) -> tuple[Size, int]:
    """``--size`` and ``--dim`` as a :class:`Size` and a feature dimension."""
    if text in SIZES:
        return SIZES[text], dim or 256
    try:
        q, g, d = (int(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"reid bench eval: --size must be market, msmt or Q,G,D, got {text!r}") from None
    if min(q, g, d) < 1:
        raise SystemExit("reid bench eval: Q, G and D must be positive")
    return Size(q, g, max(1, min(q, g) // 4), 6, g // 6), dim or d


def synthetic(size: Size, dim: int, noise: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """Query and gallery features (float32, CPU) with pids and camids; distractors get pid 0."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.arange(1, size.num_ids + 1)
    # look-alike groups of about ten identities share part of their direction
    groups = F.normalize(torch.randn(max(1, size.num_ids // 10), dim, generator=gen), dim=1)
    group_of = torch.randint(0, len(groups), (size.num_ids,), generator=gen)
    centers = F.normalize(0.8 * groups[group_of] + 0.6 * F.normalize(torch.randn(size.num_ids, dim, generator=gen),
                                                                     dim=1), dim=1)
    cam_bias = 0.3 * F.normalize(torch.randn(size.num_cams, dim, generator=gen), dim=1)

    def images(n: int, pids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cams = torch.randint(0, size.num_cams, (n,), generator=gen)
        signal = torch.where((pids > 0).unsqueeze(1), centers[(pids - 1).clamp(min=0)],
                             F.normalize(torch.randn(n, dim, generator=gen), dim=1))
        eps = torch.randn(n, dim, generator=gen) / dim**0.5
        return signal + cam_bias[cams] + noise * eps, cams

    q_pids = ids[torch.randperm(size.num_query, generator=gen) % size.num_ids]
    num_real = size.num_gallery - size.num_distractors
    g_pids = torch.cat([ids[torch.arange(num_real) % size.num_ids], torch.zeros(size.num_distractors, dtype=torch.int64)])
    g_pids = g_pids[torch.randperm(size.num_gallery, generator=gen)]
    q_feats, q_cams = images(size.num_query, q_pids)
    g_feats, g_cams = images(size.num_gallery, g_pids)
    return {"q_feats": q_feats, "g_feats": g_feats, "q_pids": q_pids, "g_pids": g_pids,
            "q_camids": q_cams, "g_camids": g_cams}


def numpy_distances(q: np.ndarray, g: np.ndarray, metric: str) -> np.ndarray:
    """The reference's distance matrix (float32), computed in one matrix product."""
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        return 1.0 - q @ g.T
    return np.maximum((q * q).sum(1, keepdims=True) + (g * g).sum(1) - 2.0 * (q @ g.T), 0.0)


def numpy_metrics(dist: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_cams: np.ndarray,
                  g_cams: np.ndarray, max_rank: int = 50) -> dict[str, float]:
    """The plain per-query reference: sort each row, drop same pid and camera, read off the matches."""
    cmc = np.zeros(max_rank)
    ap_sum = inp_sum = 0.0
    valid = 0
    for i in range(len(dist)):
        order = np.argsort(dist[i], kind="stable")
        same = g_pids[order] == q_pids[i]
        keep = ~(same & (g_cams[order] == q_cams[i]))
        hits = np.flatnonzero(same[keep])
        if len(hits) == 0:
            continue
        valid += 1
        ap_sum += float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1.0)))
        inp_sum += len(hits) / (hits[-1] + 1.0)
        if hits[0] < max_rank:
            cmc[hits[0]:] += 1
    return {"mAP": ap_sum / valid, "mINP": inp_sum / valid, "Rank-1": cmc[0] / valid, "num_valid": valid}


@dataclass
class PeakMemory:
    """Peak memory of a block of work (see :func:`peak_memory`)."""

    device: torch.device
    base: int = 0
    peak: int = 0
    lifetime: bool = False
    """the CPU peak is the process's lifetime peak (the high-water mark could not be reset)"""

    def describe(self) -> str:
        what = "CUDA allocated" if self.device.type == "cuda" else "RSS" + (" (process lifetime)" if self.lifetime else "")
        return f"peak {what} {_gib(self.peak)} (+{_gib(max(0, self.peak - self.base))} over the start)"


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """Measure the peak memory of the ``with`` block: CUDA allocations, or the resident set on CPU.

    On Linux the resident high-water mark is reset first (``/proc/self/clear_refs``), so the peak
    belongs to the block; where that is not possible the process's lifetime peak is reported.
    """
    gc.collect()
    mem = PeakMemory(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        mem.base = torch.cuda.memory_allocated(device)
    else:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            mem.lifetime = True
        mem.base = _rss_now()
    yield mem
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        mem.peak = torch.cuda.max_memory_allocated(device)
    else:
        mem.peak = _rss_peak()


def _rss_now() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _rss_peak() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _clock(device: torch.device, fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, float, object]:
    """Wall and CPU seconds of one call ``fn(*args, **kwargs)``, and its output."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0, time.process_time() - c0, out


def _best_time(fn: Callable[[], object], repeat: int, device: torch.device) -> tuple[float, float, object]:
    """Wall and CPU seconds of the fastest of ``repeat`` runs, and its output."""
    return min((_clock(device, fn) for _ in range(max(1, repeat))), key=lambda run: run[0])


def run(args: argparse.Namespace) -> int:
    size, dim = parse_size(args.size, args.dim)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("reid bench eval: --device cuda but CUDA is not available")
    what = f"{size.num_query} queries x {size.num_gallery} gallery, dim {dim}, {args.metric}"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"reid bench eval: {what} on {where}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data = synthetic(size, dim, size.noise if args.noise is None else args.noise, args.seed)
    feats = {k: v.to(device) for k, v in data.items()}
    labels = [feats[k] for k in ("q_pids", "g_pids", "q_camids", "g_camids")]

    # the engine's own pieces over its own chunks, timed apart; then the public call, end to end
    budget = default_budget(device)
    dist = GalleryDistance(feats["g_feats"], args.metric)
    step = dense_rows(size.num_gallery, 4, False, budget)

    def split_pass() -> tuple[float, float, float, float]:
        ranks = RankAccumulator(*labels, max_rank=50)
        buffer = torch.empty(min(step, size.num_query), size.num_gallery, device=device)
        times = [0.0, 0.0, 0.0, 0.0]  # wall and CPU of the distances, then of the metrics
        for r0 in range(0, size.num_query, step):
            block = feats["q_feats"][r0 : r0 + step]
            t, c, d = _clock(device, dist.rows, dist.prepare_queries(block), out=buffer[: len(block)])
            t2, c2, _ = _clock(device, ranks.update, r0, d, budget=budget // 2)
            times = [times[0] + t, times[1] + c, times[2] + t2, times[3] + c2]
        return times[0], times[1], times[2], times[3]

    split = min((split_pass() for _ in range(max(1, args.repeat))), key=lambda x: x[0] + x[2])
    t_dist, c_dist, t_met, c_met = split

    def full() -> object:
        return evaluate_features(feats["q_feats"], feats["g_feats"], *labels, metric=args.metric)

    with peak_memory(device) as mem:
        t_total, c_total, result = _best_time(full, args.repeat, device)
    print(f"scores: mAP {100 * result.mAP:.2f}  Rank-1 {100 * result.rank(1):.2f}  mINP {100 * result.mINP:.2f}  "
          f"({result.num_valid} valid queries of {result.num_queries})")
    print("\nreid_core engine, from features (chunked, never the whole matrix); wall time (CPU time)")
    print(f"  distances       {t_dist:8.3f} s ({c_dist:.3f})   the chunks' distances, timed apart")
    print(f"  metrics         {t_met:8.3f} s ({c_met:.3f})   the chunks' scoring, timed apart")
    print(f"  total           {t_total:8.3f} s ({c_total:.3f})   evaluate_features, end to end; {mem.describe()}")

    matrix_bytes = size.num_query * size.num_gallery * 4
    if matrix_bytes <= args.matrix_limit * 2**30:
        distmat = dist.rows(dist.prepare_queries(feats["q_feats"]))
        with peak_memory(device) as mem:
            t_metrics, c_metrics, _ = _best_time(lambda: evaluate_distmat(distmat, *labels), args.repeat, device)
        print(f"  metrics given the distance matrix: {t_metrics:.3f} s ({c_metrics:.3f})   {mem.describe()}")
        del distmat
    else:
        print(f"  (metrics given the matrix not timed: it would take {_gib(matrix_bytes)}; see --matrix-limit)")

    if not args.no_reference:
        ref_dist, ref_metrics = _reference(data, size, args)
        print(f"\nspeed-up over the numpy reference: metrics x{ref_metrics / max(t_met, 1e-9):.1f}, "
              f"total x{(ref_dist + ref_metrics) / t_total:.1f}")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _reference(data: dict[str, torch.Tensor], size: Size, args: argparse.Namespace) -> tuple[float, float]:
    """Time the numpy reference (on a subset of queries when there are many) and check the scores agree.

    Returns the (extrapolated) distance and metric times.
    """
    n = min(size.num_query, args.reference_queries)
    np_data = {k: v[:n].numpy() if k.startswith("q_") else v.numpy() for k, v in data.items()}
    with peak_memory(torch.device("cpu")) as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        distmat = numpy_distances(np_data["q_feats"], np_data["g_feats"], args.metric)
        t_dist, c_dist = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        ref = numpy_metrics(distmat, np_data["q_pids"], np_data["g_pids"], np_data["q_camids"], np_data["g_camids"])
        t_metrics, c_metrics = time.perf_counter() - t0, time.process_time() - c0
    scale = size.num_query / n
    note = "" if n == size.num_query else f", run on {n} of {size.num_query} queries, times x{scale:.2f}"
    print(f"\nnumpy reference (argsort per query{note})")
    print(f"  distances       {t_dist * scale:8.3f} s ({c_dist * scale:.3f})")
    print(f"  metrics         {t_metrics * scale:8.3f} s ({c_metrics * scale:.3f})")
    print(f"  total           {(t_dist + t_metrics) * scale:8.3f} s ({(c_dist + c_metrics) * scale:.3f})   {mem.describe()}"
          + (" (for the subset)" if n < size.num_query else ""))
    ours = evaluate_distmat(distmat, np_data["q_pids"], np_data["g_pids"], np_data["q_camids"], np_data["g_camids"])
    print(f"  agreement on the same queries: |mAP diff| {abs(ours.mAP - ref['mAP']):.1e}, "
          f"|mINP diff| {abs(ours.mINP - ref['mINP']):.1e}, |Rank-1 diff| {abs(ours.rank(1) - ref['Rank-1']):.1e}")
    return t_dist * scale, t_metrics * scale
