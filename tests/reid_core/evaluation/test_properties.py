"""Hypothesis properties of the rank metrics."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from reid_core.evaluation import evaluate_distmat


@st.composite
def problems(draw, distinct=True):
    num_q = draw(st.integers(1, 6))
    num_g = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(0, 5, num_q)
    g_pids = rng.integers(-1, 5, num_g)
    q_cams = rng.integers(0, 3, num_q)
    g_cams = rng.integers(0, 3, num_g)
    g_pids[0], g_cams[0] = q_pids[0], (q_cams[0] + 1) % 3
    if distinct:  # a random permutation of distinct values per row: no ties
        dist = np.argsort(rng.random((num_q, num_g)), axis=1).astype(np.float64) / num_g
    else:
        dist = rng.integers(0, 3, (num_q, num_g)).astype(np.float64)
    return dist, q_pids, g_pids, q_cams, g_cams, rng


@settings(max_examples=40, deadline=None)
@given(problems())
def test_permuting_the_gallery_changes_nothing(problem):
    dist, qp, gp, qc, gc, rng = problem
    perm = rng.permutation(len(gp))
    a = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=10, return_per_query=True)
    b = evaluate_distmat(dist[:, perm], qp, gp[perm], qc, gc[perm], max_rank=10, return_per_query=True)
    np.testing.assert_allclose(b.ap, a.ap, atol=1e-12)
    np.testing.assert_allclose(b.inp, a.inp, atol=1e-12)
    np.testing.assert_array_equal(b.cmc, a.cmc)


@settings(max_examples=40, deadline=None)
@given(problems(distinct=False))
def test_perfect_ranking_scores_one(problem):
    dist, qp, gp, qc, gc, _ = problem
    # every true match closer than every other entry
    perfect = np.where(gp[None, :] == qp[:, None], 0.0, 1.0) + 0.1 * dist
    result = evaluate_distmat(perfect, qp, gp, qc, gc, max_rank=5)
    assert result.mAP == 1.0 and result.mINP == 1.0
    assert (result.cmc == 1.0).all()


@settings(max_examples=40, deadline=None)
@given(problems(distinct=False))
def test_metrics_stay_in_unit_interval(problem):
    dist, qp, gp, qc, gc, _ = problem
    result = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=8, return_per_query=True)
    valid = ~np.isnan(result.ap)
    assert valid.sum() == result.num_valid >= 1
    for values in (result.ap[valid], result.inp[valid], result.cmc, [result.mAP, result.mINP]):
        assert ((np.asarray(values) >= 0) & (np.asarray(values) <= 1)).all()
    assert (np.diff(result.cmc) >= 0).all()
