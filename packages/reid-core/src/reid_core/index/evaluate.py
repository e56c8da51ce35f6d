"""Market-1501-protocol scores of queries against a :class:`GalleryIndex`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..evaluation.errors import EvaluationError
from ..evaluation.result import EvalResult
from ..evaluation.streaming import evaluate_streaming
from .gallery import GalleryIndex

log = logging.getLogger("reid_core")


def evaluate_index(index: GalleryIndex, q_feats: Any, q_pids: Any, q_camids: Any, *, max_rank: int = 50,
                   depth: int | None = None, model_card: dict | None = None) -> EvalResult:
    """Evaluate queries against the gallery held by ``index``.

    With ``kind="flat"`` the scores are exact: the same as :func:`reid_core.evaluate_features` on
    the gallery's vectors, computed block by block from the index's own memory. Other kinds rank
    only the ``depth`` nearest entries each search returns (default ``max(max_rank, 100)``): the
    scores are then **approximate**, and say so (``extra["approximate"] = 1``, and a log line):
    matches beyond the depth count as not found, and mINP takes a match not found as ranked at
    ``depth + 1``.

    Args:
        index: the gallery, with pids and camids for every entry.
        q_feats, q_pids, q_camids: the queries.
        max_rank: length of the CMC curve.
        depth: neighbours searched per query for approximate kinds.
        model_card: the card of the model that made the queries (checked against the index's).
    """
    index.check_model_card(model_card)
    ids, g_pids, g_camids = index.meta.labels()
    if len(ids) == 0:
        raise EvaluationError("the index is empty")
    if (g_pids < 0).all():
        raise EvaluationError("the index's entries carry no pids: add them with pids= to evaluate")
    if index.kind == "flat":
        def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
            for block_ids, vecs in index.iter_vectors():
                at = np.searchsorted(ids, block_ids)
                yield vecs, g_pids[at], g_camids[at]

        q = _as_numpy(q_feats)
        if index.metric == "cosine":
            q = index._prepare(q, "evaluate_index")  # the gallery was normalized the same way
        result = evaluate_streaming(q, q_pids, q_camids, blocks, metric=index.metric, max_rank=max_rank)
        result.extra["approximate"] = 0.0
        return result
    return _approximate(index, q_feats, q_pids, q_camids, ids, g_pids, g_camids, max_rank,
                        depth or max(max_rank, 100))


def _as_numpy(x: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)


def _approximate(index: GalleryIndex, q_feats: Any, q_pids: Any, q_camids: Any, ids: np.ndarray,
                 g_pids: np.ndarray, g_camids: np.ndarray, max_rank: int, depth: int) -> EvalResult:
    qp = np.asarray(q_pids, dtype=np.int64).reshape(-1)
    qc = np.asarray(q_camids, dtype=np.int64).reshape(-1)
    _, hit_ids, _ = index.search(_as_numpy(q_feats), min(depth, len(ids)), return_records=False)
    at = np.searchsorted(ids, np.clip(hit_ids, 0, None))
    found = hit_ids >= 0
    hp = np.where(found, g_pids[at], -(2**62))
    hc = np.where(found, g_camids[at], -1)
    ap, inp, first = [], [], []
    for i in range(len(qp)):
        total = int(((g_pids == qp[i]) & (g_camids != qc[i])).sum())
        if total == 0:
            continue
        keep = ~((hp[i] == qp[i]) & (hc[i] == qc[i])) & found[i]  # the protocol's junk goes
        match = (hp[i][keep] == qp[i])
        pos = np.nonzero(match)[0]
        ap.append(float(((np.arange(len(pos)) + 1) / (pos + 1)).sum() / total))
        last = pos[-1] if len(pos) == total else len(match)
        inp.append(total / (last + 1))
        first.append(pos[0] if len(pos) else np.inf)
    if not ap:
        raise EvaluationError(f"none of the {len(qp)} queries has a true match in the index")
    first_arr = np.asarray(first)
    cmc = np.asarray([(first_arr < r).mean() for r in range(1, max_rank + 1)], dtype=np.float64)
    log.warning("evaluate_index: a %s index ranks only the %d nearest entries per query: the scores are approximate",
                index.kind, depth)
    return EvalResult(cmc=cmc, mAP=float(np.mean(ap)), mINP=float(np.mean(inp)), num_valid=len(ap),
                      num_queries=len(qp), extra={"approximate": 1.0, "depth": float(depth)})
