"""Exact Market-1501-protocol scores for galleries that do not fit in memory.

The gallery arrives in blocks (feature shards on disk, say), and only one block is held at a time.
Two passes over the blocks suffice, because a query's scores depend only on where its true matches
land in the ranked gallery:

1. the labels of every block are read, and for the blocks that hold a query's pid, the distances of
   those entries (the query's matches, or same-camera entries, which the protocol drops);
2. every block's distances to all queries are compared with each query's sorted match distances: a
   non-match at distance ``d`` ranks ahead of every match farther than ``d`` (ties: the earlier
   gallery index first, as in :func:`~reid_core.evaluation.evaluate_features`). A histogram over
   "how many matches are ahead of this non-match" gives, per match, the number of non-matches ahead
   of it, hence its rank.

Memory is the queries, one block, a ``[queries, block]`` distance tile and the match lists; the
gallery's size only costs time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._inputs import as_features, check_metric
from .distance import GalleryDistance
from .errors import EvaluationError
from .result import EvalResult

#: One gallery block: features ``[n, D]``, pids ``[n]``, camids ``[n]`` (numpy or torch).
Block = tuple[Any, Any, Any]
#: A re-startable source of blocks: called once per pass.
BlockSource = Callable[[], Iterable[Block]]

_TILE_CELLS = 1 << 24  # distance cells computed at once: 64 MiB of float32


def npz_blocks(paths: Sequence[str | os.PathLike], rows: int | None = None) -> BlockSource:
    """A block source over ``.npz`` feature files (as written by :meth:`reid_core.Features.save`).

    Each file is read whole, one at a time (labels first: the features of a file whose pids no
    query shares are read in the second pass only). ``rows`` splits larger files further.
    """
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise EvaluationError(f"gallery shard not found: {f}")

    def blocks() -> Iterator[Block]:
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                missing = {"feats", "pids", "camids"} - set(z.files)
                if missing:
                    raise EvaluationError(f"{f} lacks the arrays {sorted(missing)} (expected a Features.save file)")
                feats, pids, camids = z["feats"], z["pids"], z["camids"]
            step = rows or len(pids) or 1
            for r0 in range(0, len(pids), step):
                yield feats[r0 : r0 + step], pids[r0 : r0 + step], camids[r0 : r0 + step]

    return blocks


@torch.no_grad()
def evaluate_streaming(q_feats: Any, q_pids: Any, q_camids: Any, gallery: BlockSource | Sequence[str | os.PathLike],
                       *, metric: str = "cosine", max_rank: int = 50) -> EvalResult:
    """Evaluate queries against a gallery streamed in blocks, exactly, in bounded memory.

    Args:
        q_feats: query features ``[Q, D]`` (held in memory, on the CPU).
        q_pids, q_camids: query labels ``[Q]``.
        gallery: ``.npz`` feature files (see :func:`npz_blocks`), or a callable that returns a fresh
            iterable of ``(feats, pids, camids)`` blocks each time it is called (it is called twice).
        metric: ``"cosine"`` or ``"euclidean"`` (squared), as in :func:`evaluate_features`.
        max_rank: length of the CMC curve.

    Returns:
        The same scores :func:`~reid_core.evaluation.evaluate_features` gives on the concatenated
        gallery (ties broken by gallery order), with ``extra["gallery_size"]``.
    """
    check_metric(metric)
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise EvaluationError(f"max_rank must be a positive integer, got {max_rank!r}")
    source: BlockSource = npz_blocks(gallery) if not callable(gallery) else gallery
    q = as_features(q_feats, "q_feats").float().cpu()
    qp = torch.as_tensor(np.asarray(q_pids), dtype=torch.int64).reshape(-1)
    qc = torch.as_tensor(np.asarray(q_camids), dtype=torch.int64).reshape(-1)
    if not (len(q) == len(qp) == len(qc)):
        raise EvaluationError(f"q_feats has {len(q)} rows but q_pids {len(qp)} and q_camids {len(qc)}")
    prep = GalleryDistance(q[:1], metric)  # only its query preparation is used here
    qn = prep.prepare_queries(q)

    matches, gallery_size = _first_pass(source, qn, qp, qc, metric)
    counts, ties = _second_pass(source, qn, qp, qc, matches, metric)
    return _scores(matches, counts, ties, len(q), gallery_size, max_rank)


class _Matches:
    """Per query, its true matches sorted by (distance, gallery index), padded with +inf."""

    def __init__(self, num_q: int) -> None:
        self.dist: list[list[float]] = [[] for _ in range(num_q)]
        self.index: list[list[int]] = [[] for _ in range(num_q)]
        self.sorted_dist = torch.empty(0)
        self.sorted_index = torch.empty(0)
        self.count = torch.empty(0)

    def freeze(self) -> None:
        width = max((len(d) for d in self.dist), default=0)
        n = len(self.dist)
        self.sorted_dist = torch.full((n, max(width, 1)), float("inf"), dtype=torch.float64)
        self.sorted_index = torch.full((n, max(width, 1)), -1, dtype=torch.int64)
        self.count = torch.tensor([len(d) for d in self.dist], dtype=torch.int64)
        for i, (d, g) in enumerate(zip(self.dist, self.index)):
            if d:
                order = sorted(range(len(d)), key=lambda k: (d[k], g[k]))
                self.sorted_dist[i, : len(d)] = torch.tensor([d[k] for k in order], dtype=torch.float64)
                self.sorted_index[i, : len(d)] = torch.tensor([g[k] for k in order])
        self.dist = self.index = []  # type: ignore[assignment]


def _block_tensors(block: Block, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    feats, pids, camids = block
    g = torch.as_tensor(np.asarray(feats)).float()
    p = torch.as_tensor(np.asarray(pids), dtype=torch.int64).reshape(-1)
    c = torch.as_tensor(np.asarray(camids), dtype=torch.int64).reshape(-1)
    if g.ndim != 2 or g.shape[1] != dim or len(g) != len(p) or len(p) != len(c):
        raise EvaluationError(
            f"a gallery block has features {tuple(g.shape)}, {len(p)} pids and {len(c)} camids; "
            f"expected [n, {dim}] features and n labels"
        )
    if not bool(torch.isfinite(g).all()):
        raise EvaluationError("a gallery block holds NaN or infinite features")
    return g, p, c


def _distances(qn: torch.Tensor, g: torch.Tensor, metric: str) -> torch.Tensor:
    dist = GalleryDistance(g, metric)
    return dist.rows(qn)


def _query_chunks(num_q: int, block_rows: int) -> Iterator[slice]:
    # both passes tile the same way, so a pair's distance is computed by the same arithmetic in both
    rows = max(1, _TILE_CELLS // max(block_rows, 1))
    for r0 in range(0, num_q, rows):
        yield slice(r0, min(r0 + rows, num_q))


def _first_pass(source: BlockSource, qn: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor,
                metric: str) -> tuple[_Matches, int]:
    matches = _Matches(len(qn))
    query_pids = torch.unique(qp)
    offset = 0
    for block in source():
        g, p, c = _block_tensors(block, qn.shape[1])
        if bool(torch.isin(p, query_pids).any()):
            for rows in _query_chunks(len(qn), len(g)):
                # same pid, other camera: a true match; same pid and camera is the protocol's junk
                same = (qp[rows, None] == p[None, :]) & (qc[rows, None] != c[None, :])
                qi, gi = same.nonzero(as_tuple=True)
                if len(qi):
                    d = _distances(qn[rows], g, metric)[qi, gi]
                    for a, b, dist in zip((qi + rows.start).tolist(), (gi + offset).tolist(), d.tolist()):
                        matches.dist[a].append(dist)
                        matches.index[a].append(b)
        offset += len(p)
    if offset == 0:
        raise EvaluationError("the gallery is empty")
    matches.freeze()
    return matches, offset


def _second_pass(source: BlockSource, qn: torch.Tensor, qp: torch.Tensor, qc: torch.Tensor, matches: _Matches,
                 metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    num_q = len(qn)
    width = matches.sorted_dist.shape[1]
    # counts[i, b]: non-matches of query i with exactly b matches ahead of them
    counts = torch.zeros(num_q, width + 1, dtype=torch.int64)
    ties = torch.zeros(num_q, width, dtype=torch.int64)  # non-matches tied with match k that go first
    sorted_dist = matches.sorted_dist.float()
    offset = 0
    for block in source():
        g, p, c = _block_tensors(block, qn.shape[1])
        for rows in _query_chunks(num_q, len(g)):
            qi = torch.arange(rows.start, rows.stop)
            d = _distances(qn[rows], g, metric)
            # entries with the query's pid are its matches (counted already) or its junk
            nonmatch = qp[qi][:, None] != p[None, :]
            ahead = torch.searchsorted(sorted_dist[qi], d, right=True)
            ahead = torch.where(nonmatch, ahead, torch.full_like(ahead, width))
            counts[qi] += torch.zeros(len(qi), width + 1, dtype=torch.int64).scatter_add_(
                1, ahead, nonmatch.long()
            )
            # the cases where a non-match sits at exactly a match's distance: gallery order decides
            before = torch.searchsorted(sorted_dist[qi], d, right=False)
            tied = nonmatch & (before < ahead)
            if bool(tied.any()):
                for a, col in tied.nonzero().tolist():
                    row = int(qi[a])
                    gidx = offset + col
                    for k in range(int(before[a, col]), int(ahead[a, col])):
                        if gidx < int(matches.sorted_index[row, k]):
                            ties[row, k] += 1
        offset += len(p)
    return counts, ties


def _scores(matches: _Matches, counts: torch.Tensor, ties: torch.Tensor, num_q: int, gallery_size: int,
            max_rank: int) -> EvalResult:
    n = matches.count
    valid = n > 0
    if not bool(valid.any()):
        raise EvaluationError(f"none of the {num_q} queries has a true match in the gallery "
                              "(same pid, other camera): check the pids and camids")
    width = matches.sorted_dist.shape[1]
    ahead_of = torch.cumsum(counts[:, :width], 1) + ties  # non-matches ahead of match k
    k = torch.arange(width, dtype=torch.int64)
    position = (k[None, :] + ahead_of).double()  # 0-based rank of match k
    is_match = k[None, :] < n[:, None]
    precision = torch.where(is_match, (k[None, :] + 1).double() / (position + 1), torch.zeros(1, dtype=torch.float64))
    ap = precision.sum(1) / n.clamp(min=1).double()
    last = position.gather(1, (n - 1).clamp(min=0)[:, None]).squeeze(1)
    inp = n.double() / (last + 1)
    first = position[:, 0]
    cmc = torch.stack([(first[valid] < r).double().mean() for r in range(1, max_rank + 1)]).numpy()
    return EvalResult(
        cmc=cmc,
        mAP=float(ap[valid].mean()),
        mINP=float(inp[valid].mean()),
        num_valid=int(valid.sum()),
        num_queries=num_q,
        extra={"gallery_size": float(gallery_size)},
    )
