"""Features of any finite scale are scored as their order says; impossible requests are refused."""

import numpy as np
import pytest
import torch
from reid_core.evaluation import EvaluationError, compute_distance, evaluate_distmat, evaluate_features
from reid_core.evaluation.distance import GalleryDistance

from .reference import market1501
from .test_metrics import features_case, random_case


def reference_scores(q, g, qp, gp, qc, gc, metric):
    """The reference protocol on distances computed in float64 by numpy."""
    q, g = np.asarray(q, np.float64), np.asarray(g, np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
        dist = 1 - q @ g.T
    else:
        dist = ((q[:, None, :] - g[None, :, :]) ** 2).sum(2)
    return market1501(dist, qp.numpy(), gp.numpy(), qc.numpy(), gc.numpy(), 10)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("scale", [1e20, 1e-30, 1e30])
def test_scale_does_not_change_the_scores(metric, scale):
    q, g, qp, gp, qc, gc = features_case(3, dtype=torch.float32)
    ref = reference_scores(q, g, qp, gp, qc, gc, metric)
    assert 0.05 < ref["mAP"] < 0.95  # a case where a broken order shows
    result = evaluate_features(q * scale, g * scale, qp, gp, qc, gc, metric=metric, max_rank=10,
                               return_per_query=True)
    assert result.mAP == pytest.approx(ref["mAP"], abs=1e-9)
    np.testing.assert_allclose(result.ap, ref["ap"], atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(result.cmc, ref["cmc"], atol=1e-9)


@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_aqe_and_rerank_at_any_scale(scale):
    q, g, qp, gp, qc, gc = features_case(4, dtype=torch.float32)
    for kwargs in ({"aqe": True}, {"rerank": True, "rerank_k1": 6, "rerank_k2": 3}):
        want = evaluate_features(q, g, qp, gp, qc, gc, metric="euclidean", **kwargs)
        got = evaluate_features(q * scale, g * scale, qp, gp, qc, gc, metric="euclidean", **kwargs)
        assert got.mAP == pytest.approx(want.mAP, abs=1e-6), kwargs


def test_compute_distance_never_returns_nan():
    q, g = features_case(1, num_q=3, num_g=4, dtype=torch.float32)[:2]
    big = compute_distance(q * 1e20, g * 1e20, "euclidean")
    assert not torch.isnan(big).any()
    assert torch.isinf(big).all()  # |q - g|^2 ~ 1e40 is beyond float32: infinite, not NaN
    q64, g64 = q.double() * 1e20, g.double() * 1e20
    d64 = compute_distance(q64, g64, "euclidean")
    want = ((q64[:, None] - g64[None]) ** 2).sum(2)
    torch.testing.assert_close(d64, want, rtol=1e-9, atol=0)
    cos = compute_distance(q * 1e-30, g * 1e-30, "cosine")
    torch.testing.assert_close(cos, compute_distance(q, g, "cosine"), rtol=0, atol=1e-5)


def test_non_finite_distances_are_refused(monkeypatch):
    q, g, qp, gp, qc, gc = features_case(2)

    def broken(self, q, out=None):
        d = torch.rand(len(q), len(self.gallery), dtype=q.dtype)
        d[-1, 0] = float("nan")
        return d

    monkeypatch.setattr(GalleryDistance, "rows", broken)
    with pytest.raises(EvaluationError, match="not finite .*query row 3"):
        evaluate_features(q, g, qp, gp, qc, gc, chunk_size=4)


@pytest.mark.parametrize("max_rank", [7, 10**12])
def test_max_rank_is_capped_at_the_gallery_size(max_rank):
    dist, qp, gp, qc, gc = random_case(3, num_q=10, num_g=6)
    result = evaluate_distmat(dist, qp, gp, qc, gc, max_rank=max_rank)
    assert len(result.cmc) == 6
    np.testing.assert_allclose(result.cmc, market1501(dist, qp, gp, qc, gc, 6)["cmc"], atol=1e-12)
    q, g, qp, gp, qc, gc = features_case(2, num_g=9)
    assert len(evaluate_features(q, g, qp, gp, qc, gc, max_rank=max_rank).cmc) == min(max_rank, 9)


@pytest.mark.parametrize("which", ["q_camids", "g_camids", "q_pids"])
def test_missing_labels_say_what_to_pass(which):
    q, g, qp, gp, qc, gc = features_case(2)
    args = dict(q_pids=qp, g_pids=gp, q_camids=qc, g_camids=gc)
    args[which] = None
    hint = "numpy.zeros" if "camids" in which else "integer"
    with pytest.raises(EvaluationError, match=f"{which} is None: pass [0-9]+ integer labels.*{hint}"):
        evaluate_features(q, g, **args)


def test_streamed_evaluation_caps_max_rank_too():
    from reid_core.evaluation.streaming import evaluate_streaming

    q, g, qp, gp, qc, gc = features_case(2, num_g=9, dtype=torch.float32)
    blocks = lambda: iter([(g.numpy(), gp.numpy(), gc.numpy())])  # noqa: E731
    got = evaluate_streaming(q.numpy(), qp.numpy(), qc.numpy(), blocks, max_rank=10**12)
    want = evaluate_features(q, g, qp, gp, qc, gc, max_rank=10**12)
    assert len(got.cmc) == 9
    np.testing.assert_allclose(got.cmc, want.cmc, atol=1e-12)
