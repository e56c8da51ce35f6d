"""Evaluation entry points: from features or from a precomputed distance matrix."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ._inputs import as_labels, as_tensor, check_metric, check_sizes
from ._memory import default_budget, rows_per_chunk
from .distance import GalleryDistance, common_features, common_scale
from .errors import EvaluationError
from .query_expansion import aqe as average_query_expansion
from .ranking import RankAccumulator
from .reranking import KReciprocal
from .result import EvalResult
from .roc import DEFAULT_FPRS, RocAccumulator, ROCResult

Chunks = Callable[[], Iterator[tuple[int, torch.Tensor]]]


def evaluate_features(q_feats: Any, g_feats: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, *,
                      metric: str = "cosine", max_rank: int = 50, rerank: bool = False, aqe: bool = False,
                      chunk_size: int | None = None, return_per_query: bool = False,
                      roc: bool | Sequence[float] = False, roc_convention: str = "verification",
                      memory_budget: int | None = None, rerank_k1: int = 20, rerank_k2: int = 6,
                      rerank_lambda: float = 0.3, aqe_times: int = 1, aqe_k: int = 5,
                      aqe_alpha: float = 3.0) -> EvalResult:
    """Evaluate query features against gallery features under the Market-1501 protocol.

    The distance matrix is never held whole: it is computed a chunk of queries at a time, on the
    device of the features, and scored at once.

    Args:
        q_feats: query features ``[Q, D]``, torch tensor (CPU or CUDA) or numpy array.
        g_feats: gallery features ``[G, D]``, same device as ``q_feats``.
        q_pids, g_pids: person ids ``[Q]``, ``[G]``. No pid is special: the Market-1501 distractors
            (pids -1 and 0) are ordinary non-matches of every query.
        q_camids, g_camids: camera ids ``[Q]``, ``[G]``.
        metric: ``"cosine"`` (``1 - cos``) or ``"euclidean"`` (**squared** euclidean, as torchreid's).
        max_rank: length of the CMC curve, capped at the gallery size (no query has a list longer
            than the gallery, so later ranks would only repeat the last value).
        rerank: apply k-reciprocal re-ranking (:func:`~reid_core.evaluation.reranking`) with
            ``rerank_k1``, ``rerank_k2``, ``rerank_lambda``.
        aqe: apply average query expansion (:func:`~reid_core.evaluation.aqe`) first, with
            ``aqe_times``, ``aqe_k``, ``aqe_alpha``.
        chunk_size: queries per chunk; by default as many as ``memory_budget`` allows.
        return_per_query: fill :attr:`EvalResult.ap` and :attr:`EvalResult.inp`.
        roc: also compute TPR at FPR 1e-4, 1e-3, 1e-2 (or at the FPRs given);
            see :func:`roc_at_fpr` for ``roc_convention``.
        memory_budget: working-memory budget in bytes (default: 256 MiB on CPU, a quarter of the
            free memory on CUDA).

    Returns:
        The :class:`EvalResult`. Ties in distance are broken by gallery index (a stable order); scores
        are accumulated in float64.

    Raises:
        EvaluationError: empty query or gallery, NaN/inf features, mismatched lengths, or no query
            with a true match.
    """
    check_metric(metric)
    max_rank = _check_max_rank(max_rank)
    q, g = common_features(q_feats, g_feats)
    check_sizes(len(q), len(g), "q_feats", "g_feats")
    if metric == "euclidean":  # ranks only depend on the order of the distances, which this keeps
        q, g, _ = common_scale(q, g)
    device = q.device
    labels = _labels(q_pids, g_pids, q_camids, g_camids, len(q), len(g), "q_feats", "g_feats", device)
    budget = memory_budget or default_budget(device)
    if aqe:
        q, g = average_query_expansion(q, g, qe_times=aqe_times, qe_k=aqe_k, alpha=aqe_alpha,
                                       memory_budget=budget)
    if rerank:
        source = KReciprocal(q, g, k1=rerank_k1, k2=rerank_k2, lambda_value=rerank_lambda, metric=metric,
                             memory_budget=budget)
        rows = rows_per_chunk(len(g), source.bytes_per_cell, budget // 2, chunk_size)

        def chunks() -> Iterator[tuple[int, torch.Tensor]]:
            for r0 in range(0, len(q), rows):
                yield r0, _finite(source.query_rows(r0, min(r0 + rows, len(q))), r0)
    else:
        dist = GalleryDistance(g, metric)
        rows = dense_rows(len(g), g.element_size(), roc, budget, chunk_size)

        def chunks() -> Iterator[tuple[int, torch.Tensor]]:
            # one buffer for all chunks: each chunk is scored before the next is computed
            buffer = torch.empty(min(rows, len(q)), len(g), dtype=g.dtype, device=device)
            for r0 in range(0, len(q), rows):
                block = q[r0 : r0 + rows]
                yield r0, _finite(dist.rows(dist.prepare_queries(block), out=buffer[: len(block)]), r0)

    return _score(chunks, *labels, max_rank=max_rank, per_query=return_per_query, roc=roc,
                  roc_convention=roc_convention, budget=budget)


def evaluate_distmat(distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, *,
                     max_rank: int = 50, chunk_size: int | None = None, return_per_query: bool = False,
                     roc: bool | Sequence[float] = False, roc_convention: str = "verification",
                     memory_budget: int | None = None) -> EvalResult:
    """Evaluate a precomputed distance matrix ``[Q, G]`` (smaller is closer) under the Market-1501 protocol.

    The matrix may be a torch tensor (CPU or CUDA; the work happens on its device) or a numpy array
    (used in place, without a copy). Arguments and result as in :func:`evaluate_features`.

    Raises:
        EvaluationError: a shape that does not fit the labels, an empty side, NaN distances, or no
            query with a true match.
    """
    max_rank = _check_max_rank(max_rank)
    chunks, labels, budget = _distmat_chunks(distmat, q_pids, g_pids, q_camids, g_camids, chunk_size,
                                             memory_budget, roc)
    return _score(chunks, *labels, max_rank=max_rank, per_query=return_per_query, roc=roc,
                  roc_convention=roc_convention, budget=budget)


def roc_at_fpr(distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any,
               fprs: Sequence[float] = DEFAULT_FPRS, *, convention: str = "verification",
               chunk_size: int | None = None, memory_budget: int | None = None) -> ROCResult:
    """TPR at each FPR in ``fprs`` over the query-gallery pairs the Market-1501 protocol keeps.

    Args:
        distmat: distances ``[Q, G]`` (smaller is closer), torch tensor or numpy array.
        q_pids, g_pids, q_camids, g_camids: labels as in :func:`evaluate_features`.
        fprs: target false positive rates.
        convention: ``"verification"`` (same-identity pairs are the positives, accepted below a
            distance threshold) or ``"fastreid"`` (fast-reid's labelling: different-identity pairs
            are the positives, flagged above the threshold).

    Returns:
        For each target, the highest TPR whose FPR does not exceed it, computed exactly.
    """
    fprs = tuple(fprs)
    chunks, labels, _ = _distmat_chunks(distmat, q_pids, g_pids, q_camids, g_camids, chunk_size,
                                        memory_budget, fprs)
    ranks = RankAccumulator(*labels, max_rank=1)
    acc = RocAccumulator(labels[0], labels[1], len(labels[0]) * len(labels[1]) - int(ranks.q_count.sum()),
                         fprs, convention)
    for r0, d in chunks():
        acc.update(r0, d, ranks.same_pid(r0, r0 + len(d)))
    return _finish_roc(acc, chunks)


def _distmat_chunks(distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any,
                    chunk_size: int | None, memory_budget: int | None,
                    roc: bool | Sequence[float]) -> tuple[Chunks, tuple[torch.Tensor, ...], int]:
    """Checked labels, the budget, and a re-startable iterator over chunks of rows of ``distmat``."""
    dm = as_tensor(distmat, "distmat")
    if dm.ndim != 2:
        raise EvaluationError(f"distmat must be a 2-D array [Q, G], got shape {tuple(dm.shape)}")
    num_q, num_g = dm.shape
    check_sizes(num_q, num_g, "distmat (query rows)", "distmat (gallery columns)")
    labels = _labels(q_pids, g_pids, q_camids, g_camids, num_q, num_g, "distmat rows", "distmat columns",
                     dm.device)
    budget = memory_budget or default_budget(dm.device)
    work_dtype = dm.dtype if dm.dtype in (torch.float32, torch.float64) else torch.float32
    itemsize = torch.finfo(work_dtype).bits // 8
    rows = dense_rows(num_g, itemsize, roc, budget, chunk_size)

    def chunks() -> Iterator[tuple[int, torch.Tensor]]:
        for r0 in range(0, num_q, rows):
            d = dm[r0 : r0 + rows].to(work_dtype).contiguous()
            # a sum is the cheapest full read; only when it is not finite are the rows looked at
            if not bool(torch.isfinite(d.sum())) and bool(torch.isnan(d).any()):
                bad = r0 + int(torch.isnan(d).any(1).nonzero()[0])
                raise EvaluationError(f"distmat contains NaN (first in query row {bad})")
            yield r0, d

    return chunks, labels, budget


def _finite(d: torch.Tensor, r0: int) -> torch.Tensor:
    """``d``, the distances of query rows ``r0 :`` computed here, refused when any is NaN or infinite:
    a NaN compares false with everything and would rank as a perfect match."""
    # a sum is the cheapest full read; only when it is not finite are the rows looked at
    if not bool(torch.isfinite(d.sum())) and not bool(torch.isfinite(d).all()):
        bad = r0 + int((~torch.isfinite(d)).any(1).nonzero()[0])
        raise EvaluationError(f"the distances computed from the features are not finite (first in query row "
                              f"{bad}, {d.dtype}): they cannot be ranked; check the features' values")
    return d


def _finish_roc(acc: RocAccumulator, chunks: Chunks) -> ROCResult:
    if acc.needs_second_pass:
        acc.start_second_pass()
        for r0, d in chunks():
            acc.count_pass(r0, d)
    return acc.result()


def dense_rows(num_gallery: int, itemsize: int, roc: bool | Sequence[float], budget: int,
               chunk_size: int | None = None) -> int:
    """Query rows per chunk of distances: half the budget holds, per distance cell, the distance, the
    candidate mask and some slack (and the ROC's selection); the other half the candidate search."""
    per_cell = itemsize + 3 + (itemsize + 1 if roc else 0)
    return rows_per_chunk(num_gallery, per_cell, budget // 2, chunk_size)


def _check_max_rank(max_rank: Any) -> int:
    try:
        ok = not isinstance(max_rank, bool) and operator.index(max_rank) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise EvaluationError(f"max_rank must be a positive integer, got {max_rank!r}")
    return operator.index(max_rank)


def _labels(q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, num_q: int, num_g: int, q_name: str,
            g_name: str, device: torch.device) -> tuple[torch.Tensor, ...]:
    return (as_labels(q_pids, "q_pids", num_q, q_name, device), as_labels(g_pids, "g_pids", num_g, g_name, device),
            as_labels(q_camids, "q_camids", num_q, q_name, device),
            as_labels(g_camids, "g_camids", num_g, g_name, device))


def _score(chunks: Chunks, q_pids: torch.Tensor, g_pids: torch.Tensor, q_camids: torch.Tensor,
           g_camids: torch.Tensor, *, max_rank: int, per_query: bool, roc: bool | Sequence[float],
           roc_convention: str, budget: int) -> EvalResult:
    """Run the rank metrics (and the ROC) over all chunks."""
    # capped before anything of max_rank's size is allocated: max_rank=10**9 must not ask for gigabytes
    ranks = RankAccumulator(q_pids, g_pids, q_camids, g_camids, min(max_rank, len(g_pids)), per_query)
    roc_acc = None
    if roc is not False:
        fprs = DEFAULT_FPRS if roc is True else tuple(roc)
        num_different = len(q_pids) * len(g_pids) - int(ranks.q_count.sum())
        roc_acc = RocAccumulator(q_pids, g_pids, num_different, fprs, roc_convention)
    for r0, d in chunks():
        ranks.update(r0, d, budget=budget // 2)
        if roc_acc is not None:
            roc_acc.update(r0, d, ranks.same_pid(r0, r0 + len(d)))
    roc_result = _finish_roc(roc_acc, chunks) if roc_acc is not None else None
    scores = ranks.result()
    if scores["num_valid"] == 0:
        raise EvaluationError(f"none of the {len(q_pids)} queries has a true match in the gallery "
                              "(same pid, other camera): check the pids and camids")
    return EvalResult(**scores, roc=roc_result.tpr if roc_result is not None else None, max_rank=max_rank)
