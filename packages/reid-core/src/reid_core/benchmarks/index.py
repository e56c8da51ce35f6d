"""``reid bench index``: build time, memory, latency and recall of each gallery index kind.

The gallery is synthetic ReID embeddings: identities in look-alike groups, several views of each
(the identity's direction plus noise), L2-normalized, generated block by block so that a 10M
gallery never exists in memory as floats. Queries are fresh views of identities spread over the
whole gallery. Recall is measured against the exact neighbours (brute force, streamed): recall@1
is the share of queries whose true nearest neighbour comes first, recall@10 the share of the true
ten nearest found among the ten returned.

Each (size, kind) runs in a fresh process, so its peak RSS is its own. With ``--distractors N``
the benchmark instead evaluates a Market-1501-sized split plus N distractors exactly, from feature
shards on disk, and reports the evaluation's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HELP = "build/search speed, memory and recall of flat, IVF-PQ and HNSW gallery indexes; exact eval with distractors"

BLOCK = 100_000  # vectors generated at a time
VIEWS = 10  # views per identity in the gallery
GROUP = 10  # identities per look-alike group


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="100k", help="gallery sizes, comma-separated: e.g. 100k,1M,10M (default 100k)")
    p.add_argument("--kinds", default="flat,ivfpq,hnsw", help="index kinds to measure (default all three)")
    p.add_argument("--dim", type=int, default=512, help="feature dimension (default 512)")
    p.add_argument("--queries", type=int, default=1000, help="queries for latency and recall (default 1000)")
    p.add_argument("--param", action="append", default=[], metavar="KIND.KEY=VALUE",
                   help="index parameter, repeatable: e.g. ivfpq.nprobe=64, ivfpq.m=64, hnsw.M=32")
    p.add_argument("--noise", type=float, default=0.7, help="per-view noise (norm) around the identity (default 0.7)")
    p.add_argument("--distractors", type=int, default=0,
                   help="instead: evaluate Market-1501 (3368 queries, 15913 gallery) plus this many distractors "
                   "exactly from shards on disk, and report peak RSS")
    p.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")


def _count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _identities(block: int, dim: int, seed: int) -> np.ndarray:
    """The identity directions of one block of the gallery (look-alike groups share a direction)."""
    rng = np.random.default_rng([seed, block])
    ids = BLOCK // VIEWS
    groups = _unit(rng, ids // GROUP, dim)
    own = _unit(rng, ids, dim)
    centres = 0.8 * np.repeat(groups, GROUP, axis=0) + 0.6 * own
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def _views(centres: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    x = centres + noise * _unit(rng, len(centres), centres.shape[1])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def gallery_blocks(size: int, dim: int, noise: float, seed: int = 0):
    """``(first id, vectors)`` blocks of the gallery, generated on the fly."""
    for b in range(-(-size // BLOCK)):
        centres = np.repeat(_identities(b, dim, seed), VIEWS, axis=0)
        x = _views(centres, np.random.default_rng([seed, b, 1]), noise)
        n = min(BLOCK, size - b * BLOCK)
        yield b * BLOCK, x[:n]


def queries(size: int, dim: int, noise: float, count: int, seed: int = 0) -> np.ndarray:
    """Fresh views of identities spread over the gallery's blocks."""
    blocks = -(-size // BLOCK)
    per = -(-count // blocks)
    out = []
    for b in range(blocks):
        centres = _identities(b, dim, seed)
        last = min(BLOCK, size - b * BLOCK) // VIEWS
        pick = np.random.default_rng([seed, b, 2]).choice(max(last, 1), size=per, replace=False)
        out.append(_views(centres[pick], np.random.default_rng([seed, b, 3]), noise))
    return np.concatenate(out)[:count]


def exact_neighbours(size: int, dim: int, noise: float, q: np.ndarray, k: int = 10) -> np.ndarray:
    """The true ``k`` nearest gallery ids of each query (inner product on unit vectors), streamed."""
    import torch

    qt = torch.from_numpy(q)
    best_s = torch.full((len(q), k), -np.inf)
    best_i = torch.full((len(q), k), -1, dtype=torch.int64)
    for start, x in gallery_blocks(size, dim, noise):
        s = qt @ torch.from_numpy(x).t()
        top_s, top_i = s.topk(min(k, s.shape[1]), dim=1)
        both_s = torch.cat([best_s, top_s], 1)
        both_i = torch.cat([best_i, top_i + start], 1)
        order = both_s.topk(k, dim=1).indices
        best_s, best_i = both_s.gather(1, order), both_i.gather(1, order)
    return best_i.numpy()


def _rss_mb() -> float:
    """Resident memory now (not the peak): what the index holds once the generation buffers are freed."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _measure_kind(kind: str, size: int, dim: int, noise: float, q: np.ndarray, truth: np.ndarray,
                  params: dict[str, Any], out: Any) -> None:
    """Child process: build one index, time its searches, report through the queue ``out``."""
    import torch

    from ..index import GalleryIndex

    torch.set_num_threads(os.cpu_count() or 1)
    base = _rss_mb()
    t0 = time.perf_counter()
    index = GalleryIndex(dim, kind=kind, metric="cosine", **params)
    for _, x in gallery_blocks(size, dim, noise):
        index.add(x)  # the first block trains IVF-PQ
    build = time.perf_counter() - t0
    held = _rss_mb() - base
    single = []
    for row in q[:200]:
        t = time.perf_counter()
        index.search(row[None], 10, return_records=False)
        single.append(time.perf_counter() - t)
    batches = []
    found = np.empty((len(q), 10), dtype=np.int64)
    for r0 in range(0, len(q), 100):
        t = time.perf_counter()
        found[r0 : r0 + 100] = index.search(q[r0 : r0 + 100], 10, return_records=False)[1]
        batches.append(time.perf_counter() - t)
    recall1 = float((found[:, 0] == truth[:, 0]).mean())
    recall10 = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    out.put({
        "kind": kind, "size": size, "params": dict(index.params), "build_s": build,
        "peak_rss_mb": _peak_rss_mb(), "index_rss_mb": held,
        "p50_ms": 1e3 * float(np.percentile(single, 50)), "p99_ms": 1e3 * float(np.percentile(single, 99)),
        "batch100_p50_ms": 1e3 * float(np.percentile(batches, 50)),
        "qps_batch100": len(q) / sum(batches), "recall@1": recall1, "recall@10": recall10,
    })


def _run_child(target, *args) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _index_benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        kind, _, name = key.partition(".")
        params.setdefault(kind, {})[name] = int(value)
    rows = []
    for size in (_count(s) for s in args.sizes.split(",")):
        q = queries(size, args.dim, args.noise, args.queries)
        t = time.perf_counter()
        truth = exact_neighbours(size, args.dim, args.noise, q)
        print(f"{size:>10,} vectors: exact neighbours of {len(q)} queries in {time.perf_counter() - t:.0f}s")
        flat_qps = None
        for kind in args.kinds.split(","):
            r = _run_child(_measure_kind, kind, size, args.dim, args.noise, q, truth, params.get(kind, {}))
            if kind == "flat":
                flat_qps = r["qps_batch100"]
            r["speedup_vs_flat"] = r["qps_batch100"] / flat_qps if flat_qps else None
            rows.append(r)
            speed = f"{r['speedup_vs_flat']:.1f}x flat" if r["speedup_vs_flat"] else "-"
            print(f"  {kind:6s} build {r['build_s']:7.1f}s  index {r['index_rss_mb']:7.0f} MB (peak RSS {r['peak_rss_mb']:5.0f})  "
                  f"1 query p50 {r['p50_ms']:7.2f} ms p99 {r['p99_ms']:7.2f} ms  "
                  f"batch 100: {r['batch100_p50_ms']:8.1f} ms ({r['qps_batch100']:8.0f} q/s, {speed})  "
                  f"recall@1 {r['recall@1']:.3f} recall@10 {r['recall@10']:.3f}  {r['params']}")
    return rows


def _distractor_child(folder: str, dim: int, out: Any) -> None:
    from ..evaluation.streaming import evaluate_streaming

    with np.load(Path(folder) / "query.npz") as z:
        q, qp, qc = z["feats"], z["pids"], z["camids"]
    shards = sorted(Path(folder).glob("gallery-*.npz"))
    t = time.perf_counter()
    result = evaluate_streaming(q, qp, qc, shards)
    out.put({"seconds": time.perf_counter() - t, "peak_rss_mb": _peak_rss_mb(), "mAP": result.mAP,
             "rank1": result.rank(1), "mINP": result.mINP, "gallery": int(result.extra["gallery_size"]),
             "queries": result.num_queries})


def _distractor_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from .eval import SIZES, synthetic

    size = SIZES["market"]
    data = synthetic(size, args.dim, size.noise)
    with tempfile.TemporaryDirectory(prefix="reid-bench-distractors-") as folder:
        np.savez(Path(folder) / "query.npz", feats=data["q_feats"].numpy(), pids=data["q_pids"].numpy(),
                 camids=data["q_camids"].numpy())
        np.savez(Path(folder) / "gallery-000000.npz", feats=data["g_feats"].numpy(),
                 pids=data["g_pids"].numpy(), camids=data["g_camids"].numpy())
        gen = torch.Generator().manual_seed(1)
        for i, r0 in enumerate(range(0, args.distractors, 20_000), start=1):
            n = min(20_000, args.distractors - r0)
            # like the benchmark's own distractors: a random identity direction plus per-image noise
            direction = torch.nn.functional.normalize(torch.randn(n, args.dim, generator=gen), dim=1)
            feats = direction + size.noise * torch.randn(n, args.dim, generator=gen) / args.dim**0.5
            np.savez(Path(folder) / f"gallery-{i:06d}.npz", feats=feats.numpy(),
                     pids=np.full(n, -2, dtype=np.int64), camids=np.zeros(n, dtype=np.int64))
        on_disk = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        r = _run_child(_distractor_child, folder, args.dim)
    r.update({"distractors": args.distractors, "dim": args.dim, "shards_mb": on_disk})
    print(f"Market-1501 ({size.num_query} queries, {size.num_gallery} gallery) + {args.distractors:,} distractors, "
          f"{args.dim}-d ({on_disk:,.0f} MB of shards): exact evaluation in {r['seconds']:.0f}s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB; mAP {r['mAP']:.4f} rank-1 {r['rank1']:.4f} mINP {r['mINP']:.4f}")
    return r


def run(args: argparse.Namespace) -> int:
    result: Any = _distractor_benchmark(args) if args.distractors else _index_benchmark(args)
    if args.json:
        path = Path(args.json)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, path)
    return 0
