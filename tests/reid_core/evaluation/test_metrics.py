"""evaluate_distmat / evaluate_features against the per-query reference, on the cases that matter."""

import numpy as np
import pytest
import torch
from reid_core.evaluation import compute_distance, evaluate_distmat, evaluate_features

from .reference import market1501

TOL = 1e-9


def assert_matches_reference(result, dist, q_pids, g_pids, q_camids, g_camids, max_rank):
    max_rank = min(max_rank, np.asarray(dist).shape[1])  # the CMC stops at the gallery size
    ref = market1501(np.asarray(dist), q_pids, g_pids, q_camids, g_camids, max_rank)
    assert result.num_valid == ref["num_valid"]
    assert result.num_queries == len(q_pids)
    assert len(result.cmc) == max_rank
    np.testing.assert_allclose(result.cmc, ref["cmc"], rtol=0, atol=TOL)
    assert result.mAP == pytest.approx(ref["mAP"], abs=TOL)
    assert result.mINP == pytest.approx(ref["mINP"], abs=TOL)
    if result.ap is not None:
        np.testing.assert_allclose(result.ap, ref["ap"], rtol=0, atol=TOL, equal_nan=True)


def random_case(seed, num_q=None, num_g=None, ties=False, dtype=np.float64):
    """Pids 1..6 plus distractors -1 and 0, 3 cameras: same-camera positives and match-less queries."""
    rng = np.random.default_rng(seed)
    num_q = num_q or int(rng.integers(1, 25))
    num_g = num_g or int(rng.integers(1, 120))
    q_pids = rng.integers(1, 9, num_q)  # pids 7 and 8 never appear in the gallery
    g_pids = rng.integers(-1, 7, num_g)
    q_cams = rng.integers(0, 3, num_q)
    g_cams = rng.integers(0, 3, num_g)
    g_pids[0], g_cams[0] = q_pids[0], (q_cams[0] + 1) % 3  # at least one query has a match
    dist = rng.integers(0, 4, (num_q, num_g)) if ties else rng.random((num_q, num_g))
    return dist.astype(dtype), q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ties", [False, True])
def test_random_cases_match_reference(seed, dtype, ties):
    dist, qp, gp, qc, gc = random_case(seed, ties=ties, dtype=dtype)
    chunk = int(np.random.default_rng(seed).integers(1, 8))
    result = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=20, chunk_size=chunk, return_per_query=True)
    assert_matches_reference(result, dist, qp, gp, qc, gc, 20)


def test_queries_without_match_are_excluded_and_counted():
    dist = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.5, 0.4, 0.3]])
    # query 1's only same-pid entry is on its own camera; query 2's pid is absent
    q_pids, g_pids = np.array([1, 2, 3]), np.array([1, 2, 4])
    q_cams, g_cams = np.array([0, 0, 0]), np.array([1, 0, 1])
    result = evaluate_distmat(dist, q_pids, g_pids, q_cams, g_cams, max_rank=3, return_per_query=True)
    assert (result.num_valid, result.num_queries) == (1, 3)
    assert result.mAP == 1.0 and result.cmc.tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(result.ap[1]) and np.isnan(result.ap[2])


def test_distractor_pids_are_ordinary_non_matches():
    # gallery: distractor (0), junk (-1), then the match; query pid 5 from camera 0
    dist = np.array([[0.1, 0.2, 0.3]])
    result = evaluate_distmat(dist, [5], [0, -1, 5], [0], [1, 1, 1], max_rank=3)
    assert result.mAP == pytest.approx(1 / 3)
    assert result.mINP == pytest.approx(1 / 3)
    assert result.cmc.tolist() == [0.0, 0.0, 1.0]


def test_same_camera_positive_is_dropped_not_counted_as_negative():
    dist = np.array([[0.1, 0.2, 0.3]])
    result = evaluate_distmat(dist, [5], [5, 7, 5], [0], [0, 1, 1], max_rank=2)
    # list after dropping the same-camera positive: [7, 5] -> the match is second
    assert result.mAP == pytest.approx(0.5)
    assert result.cmc.tolist() == [0.0, 1.0]


def test_ties_are_broken_by_gallery_index():
    dist = np.zeros((1, 4))
    result = evaluate_distmat(dist, [1], [2, 1, 3, 1], [0], [1, 1, 1, 1], max_rank=4)
    # order 0, 1, 2, 3: matches at positions 1 and 3 -> AP = (1/2 + 2/4) / 2
    assert result.mAP == pytest.approx(0.5)
    assert result.mINP == pytest.approx(0.5)
    assert result.cmc.tolist() == [0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_negative_zero_and_infinite_distances(dtype):
    dist = np.array([[-0.0, 0.0, np.inf, -np.inf, np.inf, -1.5]], dtype=dtype)
    q, g = [1], [2, 1, 1, 3, 4, 2]
    result = evaluate_distmat(dist, q, g, [0], [1] * 6, max_rank=6, return_per_query=True)
    assert_matches_reference(result, dist, q, g, [0], [1] * 6, 6)


def test_float64_distances_finer_than_float32():
    # distinct in float64, all equal once rounded to float32, plus values outside float32's range
    rng = np.random.default_rng(0)
    dist, qp, gp, qc, gc = random_case(2, num_q=8, num_g=90)
    dist = 0.5 + rng.permutation(dist.size).reshape(dist.shape) * 1e-13
    dist[:, :3] = [1e300, -1e300, 1e-300]
    assert len(np.unique(dist[:, 3:].astype(np.float32))) == 1
    result = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=20, return_per_query=True)
    assert_matches_reference(result, dist, qp, gp, qc, gc, 20)


def test_max_rank_larger_than_gallery():
    dist, qp, gp, qc, gc = random_case(3, num_q=10, num_g=6)
    result = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=50)
    assert_matches_reference(result, dist, qp, gp, qc, gc, 50)
    assert len(result.cmc) == 6
    assert result.cmc[-1] == 1.0


def test_single_query():
    dist = np.array([[0.4, 0.1, 0.3, 0.2]])
    result = evaluate_distmat(dist, [1], [1, 2, 1, 3], [0], [1, 1, 2, 1], max_rank=4)
    # order 1, 3, 2, 0 -> matches at positions 2 and 3
    assert result.mAP == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert result.mINP == pytest.approx(2 / 4)
    assert result.rank(1) == 0.0 and result.rank(3) == 1.0


def test_chunking_and_budget_do_not_change_the_result():
    dist, qp, gp, qc, gc = random_case(7, num_q=40, num_g=300)
    whole = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=10, return_per_query=True)
    for kwargs in ({"chunk_size": 1}, {"chunk_size": 7}, {"memory_budget": 4096}):
        part = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=10, return_per_query=True, **kwargs)
        np.testing.assert_array_equal(part.cmc, whole.cmc)
        np.testing.assert_array_equal(part.ap, whole.ap)
        np.testing.assert_array_equal(part.inp, whole.inp)
        # only the order of the float64 sums differs
        assert part.mAP == pytest.approx(whole.mAP, abs=1e-15)
        assert part.mINP == pytest.approx(whole.mINP, abs=1e-15)


def test_torch_and_numpy_inputs_agree():
    dist, qp, gp, qc, gc = random_case(11, num_q=15, num_g=80)
    a = evaluate_distmat(dist, qp, gp, qc, gc)
    b = evaluate_distmat(torch.from_numpy(dist), torch.from_numpy(qp), list(gp), torch.from_numpy(qc), gc)
    assert a.mAP == b.mAP and a.mINP == b.mINP
    np.testing.assert_array_equal(a.cmc, b.cmc)


def features_case(seed, num_q=12, num_g=60, dim=16, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(6, dim, generator=g, dtype=dtype)
    q_pids = torch.randint(0, 6, (num_q,), generator=g)
    g_pids = torch.randint(-1, 6, (num_g,), generator=g)
    q_feats = centers[q_pids] + torch.randn(num_q, dim, generator=g, dtype=dtype)
    g_feats = centers[g_pids.clamp(min=0)] + torch.randn(num_g, dim, generator=g, dtype=dtype)
    q_cams = torch.randint(0, 3, (num_q,), generator=g)
    g_cams = torch.randint(0, 3, (num_g,), generator=g)
    return q_feats, g_feats, q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_match_reference_on_their_distances(metric, dtype):
    q, g, qp, gp, qc, gc = features_case(5, dtype=dtype)
    result = evaluate_features(q, g, qp, gp, qc, gc, metric=metric, max_rank=10, chunk_size=5, return_per_query=True)
    dist = compute_distance(q, g, metric)
    assert dist.dtype == dtype
    assert_matches_reference(result, dist.numpy(), qp.numpy(), gp.numpy(), qc.numpy(), gc.numpy(), 10)


def test_distance_definitions():
    q = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([[0.0, 2.0], [-1.0, 0.0]], dtype=torch.float64)
    euclid = compute_distance(q, g, "euclidean")  # squared
    np.testing.assert_allclose(euclid.numpy(), [[9 + 4, 16 + 16], [1 + 4, 4]], atol=1e-12)
    cosine = compute_distance(q.numpy(), g.numpy(), "cosine")
    np.testing.assert_allclose(cosine.numpy(), [[1 - 0.8, 1 + 0.6], [1.0, 2.0]], atol=1e-12)


def test_summary_and_as_dict():
    dist = np.array([[0.1, 0.2], [0.2, 0.1]])
    result = evaluate_distmat(dist, [1, 2], [1, 2], [0, 0], [1, 1], max_rank=5)
    scores = result.as_dict()
    assert scores["mAP"] == 1.0 and scores["Rank-1"] == 1.0 and scores["Rank-5"] == 1.0
    assert "Rank-10" not in scores
    assert "mAP" in result.summary() and "2 valid of 2" in result.summary()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu():
    q, g, qp, gp, qc, gc = features_case(9, num_q=40, num_g=300, dtype=torch.float32)
    for kwargs in ({}, {"rerank": True, "rerank_k1": 6, "rerank_k2": 3}, {"aqe": True}, {"roc": True}):
        cpu = evaluate_features(q, g, qp, gp, qc, gc, return_per_query=True, **kwargs)
        cuda = evaluate_features(*(t.cuda() for t in (q, g, qp, gp, qc, gc)), return_per_query=True, **kwargs)
        assert cuda.num_valid == cpu.num_valid
        assert cuda.mAP == pytest.approx(cpu.mAP, abs=1e-6)
        assert cuda.mINP == pytest.approx(cpu.mINP, abs=1e-6)
        np.testing.assert_allclose(cuda.cmc, cpu.cmc, atol=1e-6)
    # on the same float64 distance matrix the two devices must agree exactly
    dist = compute_distance(q.double(), g.double())
    cpu = evaluate_distmat(dist, qp, gp, qc, gc)
    cuda = evaluate_distmat(dist.cuda(), qp.cuda(), gp.cuda(), qc.cuda(), gc.cuda())
    assert cuda.mAP == pytest.approx(cpu.mAP, abs=1e-12)
    np.testing.assert_array_equal(cuda.cmc, cpu.cmc)
