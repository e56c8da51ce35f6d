"""Average query expansion against a one-row-at-a-time transcription of fast-reid's aqe."""

import numpy as np
import pytest
import torch
from reid_core.evaluation import (
    aqe,
    compute_distance,
    evaluate_distmat,
    evaluate_features,
)

from .reference import average_query_expansion


@pytest.mark.parametrize("qe_times, qe_k, alpha", [(1, 5, 3.0), (2, 3, 1.0), (1, 1, 3.0)])
def test_matches_transcription(qe_times, qe_k, alpha):
    rng = np.random.default_rng(qe_k)
    q, g = rng.normal(size=(7, 5)), rng.normal(size=(20, 5))
    got_q, got_g = aqe(torch.from_numpy(q), torch.from_numpy(g), qe_times, qe_k, alpha)
    want_q, want_g = average_query_expansion(q, g, qe_times, qe_k, alpha)
    np.testing.assert_allclose(got_q.numpy(), want_q, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_g.numpy(), want_g, rtol=0, atol=1e-12)


def test_one_neighbour_with_alpha_one_is_the_identity():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    got_q, got_g = aqe(q, g, qe_k=1, alpha=1.0)  # the nearest feature is itself, with similarity 1
    np.testing.assert_allclose(got_q.numpy(), q, atol=1e-12)
    np.testing.assert_allclose(got_g.numpy(), g, atol=1e-12)


def test_evaluate_features_with_aqe_scores_the_expanded_features():
    rng = np.random.default_rng(1)
    q, g = rng.normal(size=(8, 6)), rng.normal(size=(30, 6))
    qp, gp = rng.integers(0, 4, 8), rng.integers(0, 4, 30)
    qc, gc = np.zeros(8, int), np.ones(30, int)
    got = evaluate_features(q, g, qp, gp, qc, gc, aqe=True, aqe_k=4)
    eq, eg = average_query_expansion(q, g, 1, 4, 3.0)
    expected = evaluate_distmat(compute_distance(eq, eg), qp, gp, qc, gc)
    assert got.mAP == pytest.approx(expected.mAP, abs=1e-9)
