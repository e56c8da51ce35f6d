"""Exact evaluation of a gallery streamed in blocks, against the literal reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reid_core import Features
from reid_core.evaluation import EvaluationError, evaluate_features
from reid_core.evaluation.streaming import evaluate_streaming

from ..evaluation.reference import market1501


def case(seed: int, num_q: int = 40, num_g: int = 700, dim: int = 16, ties: bool = False):
    rng = np.random.default_rng(seed)
    gp = rng.integers(0, 30, num_g)
    gc = rng.integers(0, 4, num_g)
    qp = rng.integers(0, 33, num_q)  # some queries have no match at all
    qc = rng.integers(0, 4, num_q)
    g = rng.normal(size=(num_g, dim)).astype(np.float32)
    q = rng.normal(size=(num_q, dim)).astype(np.float32)
    if ties:
        g[: num_g // 4] = g[num_g // 4 : num_g // 2]  # duplicated gallery rows tie exactly
        q[:5] = g[:5]
    return q, g, qp, gp, qc, gc


def blocks_of(g, gp, gc, rows):
    def source():
        for r0 in range(0, len(g), rows):
            yield g[r0 : r0 + rows], gp[r0 : r0 + rows], gc[r0 : r0 + rows]

    return source


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("ties", [False, True])
def test_streamed_blocks_equal_the_in_memory_evaluation(metric, ties):
    q, g, qp, gp, qc, gc = case(1, ties=ties)
    want = evaluate_features(q, g, qp, gp, qc, gc, metric=metric)
    got = evaluate_streaming(q, qp, qc, blocks_of(g, gp, gc, 97), metric=metric)
    assert got.mAP == pytest.approx(want.mAP, rel=1e-12)
    assert got.mINP == pytest.approx(want.mINP, rel=1e-12)
    np.testing.assert_allclose(got.cmc, want.cmc, rtol=0, atol=1e-12)
    assert (got.num_valid, got.num_queries) == (want.num_valid, want.num_queries)
    assert got.extra["gallery_size"] == len(g)


def test_streamed_scores_follow_the_protocol_definition():
    q, g, qp, gp, qc, gc = case(2, ties=True)
    # the reference ranks on distances it is given: give it the engine's own float32 distances
    from reid_core.evaluation import compute_distance

    dist = compute_distance(torch.from_numpy(q), torch.from_numpy(g)).numpy()
    ref = market1501(dist, qp, gp, qc, gc, max_rank=20)
    got = evaluate_streaming(q, qp, qc, blocks_of(g, gp, gc, len(g)), max_rank=20)
    assert got.mAP == pytest.approx(ref["mAP"], rel=1e-9)
    assert got.mINP == pytest.approx(ref["mINP"], rel=1e-9)
    np.testing.assert_allclose(got.cmc, ref["cmc"], atol=1e-12)


def test_npz_shards_are_read_one_at_a_time(tmp_path):
    q, g, qp, gp, qc, gc = case(3)
    paths = []
    for i, r0 in enumerate(range(0, len(g), 250)):
        p = tmp_path / f"shard-{i}.npz"
        Features(torch.from_numpy(g[r0 : r0 + 250]), torch.from_numpy(gp[r0 : r0 + 250]),
                 torch.from_numpy(gc[r0 : r0 + 250]), [f"{j}.jpg" for j in range(r0, min(r0 + 250, len(g)))]).save(p)
        paths.append(p)
    want = evaluate_features(q, g, qp, gp, qc, gc)
    assert evaluate_streaming(q, qp, qc, paths).mAP == pytest.approx(want.mAP, rel=1e-12)


def test_bad_blocks_are_refused(tmp_path):
    q, g, qp, gp, qc, gc = case(4)
    bad = g.copy()
    bad[3, 0] = np.nan
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate_streaming(q, qp, qc, blocks_of(bad, gp, gc, 100))
    with pytest.raises(EvaluationError, match=r"\[n, 16\]"):
        evaluate_streaming(q, qp, qc, blocks_of(g[:, :8], gp, gc, 100))
    with pytest.raises(EvaluationError, match="not found"):
        evaluate_streaming(q, qp, qc, [tmp_path / "missing.npz"])
    with pytest.raises(EvaluationError, match="no match|true match"):
        evaluate_streaming(q, qp + 1000, qc, blocks_of(g, gp, gc, 100))
