"""Bad input gets a clear error that names the argument."""

import numpy as np
import pytest
import torch
from reid_core.errors import ReidError
from reid_core.evaluation import (
    EvaluationError,
    compute_distance,
    evaluate_distmat,
    evaluate_features,
)


def feats(n, dim=4):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(n))


def labels(nq, ng):
    return np.ones(nq, int), np.ones(ng, int), np.zeros(nq, int), np.ones(ng, int)


def test_error_is_a_reid_error_and_a_value_error():
    assert issubclass(EvaluationError, ReidError) and issubclass(EvaluationError, ValueError)


def test_empty_gallery():
    with pytest.raises(EvaluationError, match="g_feats is empty"):
        evaluate_features(feats(3), feats(0), *labels(3, 0))
    with pytest.raises(EvaluationError, match="gallery"):
        evaluate_distmat(np.zeros((3, 0)), *labels(3, 0))


def test_empty_query():
    with pytest.raises(EvaluationError, match="q_feats is empty"):
        evaluate_features(feats(0), feats(3), *labels(0, 3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_features(bad):
    q = feats(3)
    q[1, 2] = bad
    with pytest.raises(EvaluationError, match="q_feats contains NaN"):
        evaluate_features(q, feats(5), *labels(3, 5))
    with pytest.raises(EvaluationError, match="g_feats contains NaN"):
        evaluate_features(feats(5), q, *labels(5, 3))


def test_nan_distance():
    dist = np.random.default_rng(0).random((4, 5))
    dist[2, 3] = np.nan
    with pytest.raises(EvaluationError, match="distmat contains NaN .*row 2"):
        evaluate_distmat(dist, *labels(4, 5))


@pytest.mark.parametrize("which, expect", [(0, "q_pids has 2 entries"), (1, "g_pids has 4 entries"),
                                           (2, "q_camids has 2 entries"), (3, "g_camids has 4 entries")])
def test_mismatched_lengths(which, expect):
    args = list(labels(3, 5))
    args[which] = args[which][:-1]
    with pytest.raises(EvaluationError, match=expect):
        evaluate_features(feats(3), feats(5), *args)
    with pytest.raises(EvaluationError, match=expect):
        evaluate_distmat(np.zeros((3, 5)), *args)


def test_mismatched_dimensions_and_shapes():
    with pytest.raises(EvaluationError, match="dimension 4 but g_feats has 6"):
        evaluate_features(feats(3), feats(5, dim=6), *labels(3, 5))
    with pytest.raises(EvaluationError, match=r"q_feats must be a 2-D array"):
        evaluate_features(torch.zeros(3), feats(5), *labels(3, 5))
    with pytest.raises(EvaluationError, match="distmat must be a 2-D array"):
        evaluate_distmat(np.zeros(5), *labels(1, 5))


def test_bad_options():
    with pytest.raises(EvaluationError, match="metric must be"):
        evaluate_features(feats(3), feats(5), *labels(3, 5), metric="manhattan")
    with pytest.raises(EvaluationError, match="max_rank must be a positive integer"):
        evaluate_distmat(np.zeros((3, 5)), *labels(3, 5), max_rank=0)
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_distmat(np.zeros((3, 5)), *labels(3, 5), chunk_size=0)
    with pytest.raises(EvaluationError, match="must hold integers"):
        evaluate_distmat(np.zeros((3, 5)), np.full(3, 0.5), *labels(3, 5)[1:])
    with pytest.raises(EvaluationError, match="metric must be"):
        compute_distance(feats(2), feats(2), "l1")


def test_no_valid_query():
    q_pids, g_pids = np.array([1, 2]), np.array([3, 3, 1])
    q_cams, g_cams = np.array([0, 0]), np.array([0, 1, 0])  # pid 1's only entry is on its camera
    with pytest.raises(EvaluationError, match="none of the 2 queries has a true match"):
        evaluate_distmat(np.zeros((2, 3)), q_pids, g_pids, q_cams, g_cams)

