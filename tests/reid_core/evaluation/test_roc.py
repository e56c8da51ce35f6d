"""TPR at FPR against a scan over every threshold."""

import numpy as np
import pytest
from reid_core.evaluation import evaluate_distmat, roc_at_fpr

from .reference import roc_points


def case(seed, ties=False, num_q=15, num_g=70):
    rng = np.random.default_rng(seed)
    qp, gp = rng.integers(0, 5, num_q), rng.integers(-1, 5, num_g)
    qc, gc = rng.integers(0, 2, num_q), rng.integers(0, 2, num_g)
    gp[0], gc[0] = qp[0], 1 - qc[0]
    same = gp[None, :] == qp[:, None]
    # matches tend to be closer, with overlap so that the operating points are not trivial
    dist = rng.random((num_q, num_g)) + 0.4 * ~same
    if ties:
        dist = np.round(dist * 4) / 4
    return dist, qp, gp, qc, gc


@pytest.mark.parametrize("convention", ["verification", "fastreid"])
@pytest.mark.parametrize("seed, ties", [(0, False), (1, False), (2, True), (3, True)])
def test_matches_threshold_scan(convention, seed, ties):
    dist, qp, gp, qc, gc = case(seed, ties)
    fprs = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0)
    got = roc_at_fpr(dist, qp, gp, qc, gc, fprs, convention=convention, chunk_size=4)
    expected = roc_points(dist, qp, gp, qc, gc, fprs, convention)
    for f in fprs:
        assert got.tpr[f] == pytest.approx(expected[f], abs=1e-12), f
    kept = ~((gp[None, :] == qp[:, None]) & (gc[None, :] == qc[:, None]))
    assert got.num_same + got.num_different == kept.sum()


def test_small_budget_and_float32():
    dist, qp, gp, qc, gc = case(4, num_q=30, num_g=200)
    fprs = (1e-3, 1e-2, 0.1)
    expected = roc_at_fpr(dist, qp, gp, qc, gc, fprs)
    tiny = roc_at_fpr(dist, qp, gp, qc, gc, fprs, memory_budget=4096)
    assert tiny.tpr == expected.tpr
    f32 = dist.astype(np.float32)
    assert roc_at_fpr(f32, qp, gp, qc, gc, fprs).tpr == pytest.approx(roc_points(f32, qp, gp, qc, gc, fprs,
                                                                                  "verification"))


def test_separable_scores_give_full_tpr_and_evaluate_reports_it():
    _, qp, gp, qc, gc = case(5)
    same = gp[None, :] == qp[:, None]
    separable = np.where(same, 0.1, 0.9)
    result = evaluate_distmat(separable, qp, gp, qc, gc, roc=True)
    assert result.roc == {1e-4: 1.0, 1e-3: 1.0, 1e-2: 1.0}
    assert result.as_dict()["TPR@FPR=1e-04"] == 1.0
    swapped = roc_at_fpr(np.where(same, 0.9, 0.1), qp, gp, qc, gc, (0.01,))
    assert swapped.tpr[0.01] == 0.0


def test_bad_arguments():
    dist, qp, gp, qc, gc = case(6)
    with pytest.raises(ValueError, match="convention"):
        roc_at_fpr(dist, qp, gp, qc, gc, convention="sklearn")
    with pytest.raises(ValueError, match="FPR targets"):
        roc_at_fpr(dist, qp, gp, qc, gc, fprs=(1.5,))
