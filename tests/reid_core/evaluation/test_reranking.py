"""k-reciprocal re-ranking against a transcription of the paper's definitions."""

import numpy as np
import pytest
import torch
from reid_core.evaluation import evaluate_distmat, evaluate_features, reranking

from .reference import k_reciprocal


def clustered(seed, num_q, num_g, dim=6):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, dim))
    q_ids, g_ids = rng.integers(0, 5, num_q), rng.integers(0, 5, num_g)
    q = centers[q_ids] + 0.7 * rng.normal(size=(num_q, dim))
    g = centers[g_ids] + 0.7 * rng.normal(size=(num_g, dim))
    return q, g, q_ids, g_ids


@pytest.mark.parametrize("seed, num_q, num_g, k1, k2, lam", [
    (0, 8, 30, 20, 6, 0.3),   # k1 + 1 > N / 2: big neighbourhoods
    (1, 10, 40, 6, 3, 0.3),
    (2, 5, 25, 4, 1, 0.5),    # k2 = 1: no local query expansion
    (3, 12, 36, 7, 4, 0.0),   # pure Jaccard distance
    (4, 3, 9, 20, 6, 1.0),    # k1 beyond the number of points; the original distance only
])
def test_matches_transcription(seed, num_q, num_g, k1, k2, lam):
    q, g, _, _ = clustered(seed, num_q, num_g)
    expected = k_reciprocal(q, g, k1, k2, lam)
    got = reranking(torch.from_numpy(q), torch.from_numpy(g), k1, k2, lam)
    assert got.dtype == torch.float64 and got.shape == (num_q, num_g)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


def test_small_budget_gives_the_same_result():
    q, g, _, _ = clustered(5, 10, 40)
    whole = reranking(q, g, 6, 3, 0.3)
    tiny = reranking(q, g, 6, 3, 0.3, memory_budget=2048)
    np.testing.assert_allclose(tiny.numpy(), whole.numpy(), rtol=0, atol=1e-12)


def test_cosine_equals_euclidean_on_normalized_features():
    q, g, _, _ = clustered(6, 9, 30)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    cosine = reranking(q, g, 6, 3, 0.3, metric="cosine")
    euclidean = reranking(qn, gn, 6, 3, 0.3, metric="euclidean")
    np.testing.assert_allclose(cosine.numpy(), euclidean.numpy(), rtol=0, atol=1e-9)


def test_float32_close_to_float64():
    q, g, _, _ = clustered(7, 10, 40)
    a = reranking(q.astype(np.float32), g.astype(np.float32), 6, 3, 0.3)
    assert a.dtype == torch.float32
    np.testing.assert_allclose(a.numpy(), k_reciprocal(q, g, 6, 3, 0.3), rtol=0, atol=1e-4)


def test_evaluate_features_with_rerank_scores_the_reranked_matrix():
    q, g, q_ids, g_ids = clustered(8, 15, 60)
    q_cams, g_cams = np.zeros(15, int), np.ones(60, int)
    got = evaluate_features(q, g, q_ids, g_ids, q_cams, g_cams, metric="euclidean", rerank=True, rerank_k1=8,
                            rerank_k2=3, chunk_size=4, return_per_query=True)
    expected = evaluate_distmat(k_reciprocal(q, g, 8, 3, 0.3), q_ids, g_ids, q_cams, g_cams, return_per_query=True)
    np.testing.assert_allclose(got.ap, expected.ap, atol=1e-9)
    assert got.mAP == pytest.approx(expected.mAP, abs=1e-9)


def test_bad_parameters():
    q, g, _, _ = clustered(9, 3, 5)
    with pytest.raises(ValueError, match="k1 and k2"):
        reranking(q, g, k1=0)
    with pytest.raises(ValueError, match="lambda_value"):
        reranking(q, g, lambda_value=1.5)
