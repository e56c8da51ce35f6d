"""The orthogonality regularizers of reid_abd.losses, against exact spectra."""

import pytest
import torch

from reid_abd.losses import feature_spread, of_penalty, ow_penalty, weight_spread


def _exact_spread(gram: torch.Tensor) -> torch.Tensor:
    eig = torch.linalg.eigvalsh(gram.double())
    return eig[..., -1] - eig[..., 0]


def test_feature_spread_never_exceeds_the_true_spread():
    gen = torch.Generator().manual_seed(0)
    fmap = torch.randn(4, 16, 5, 3, generator=gen)
    est = feature_spread(fmap, generator=gen).double()
    flat = fmap.flatten(2)
    exact = _exact_spread(flat @ flat.transpose(1, 2))
    assert est.shape == (4,)
    # A Rayleigh-quotient estimate: never above the true spread (it may fall below, even under 0).
    assert (est <= exact * (1 + 1e-5)).all()


def test_orthogonal_maps_and_kernels_cost_nothing():
    # Rows of an orthogonal matrix: F F^T = I, a flat spectrum.
    q = torch.linalg.qr(torch.randn(24, 24, generator=torch.Generator().manual_seed(1)))[0]
    fmap = q[:8].reshape(1, 8, 4, 6).repeat(2, 1, 1, 1)
    assert of_penalty({"after": fmap}).abs() < 1e-10
    conv = torch.nn.Conv2d(8, 6, 3)
    torch.nn.init.orthogonal_(conv.weight)  # W^T W = I for 6 outputs of 72 inputs
    assert ow_penalty([conv]).abs() < 1e-8


def test_of_penalty_weighting():
    fmap = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(2)).abs()

    def run(fmaps, **kw):
        return of_penalty(fmaps, generator=torch.Generator().manual_seed(5), **kw)

    base = run({"after": fmap})
    assert base != 0
    # beta scales linearly, the shallow map is weighted by 0.01, maps of a position are averaged
    torch.testing.assert_close(run({"after": fmap}, beta=2e-6), 2 * base)
    torch.testing.assert_close(run({"intermediate": fmap}), 0.01 * base)
    gen = torch.Generator().manual_seed(5)  # the same draws, in the same order, as run() makes
    first, second = feature_spread(fmap, generator=gen), feature_spread(fmap, generator=gen)
    torch.testing.assert_close(run({"after": (fmap, fmap)}), 1e-6 * (first.sum() + second.sum()) / 2 * 32 / 2)
    # Upstream normalizes to a batch of 32: beta * sum over images * 32 / B.
    spread = feature_spread(fmap, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(base, 1e-6 * spread.sum() * 32 / 2)
    # positions not asked for are ignored, and nothing asked gives zero
    assert run({"after": fmap}, positions=("cam",)) == 0
    assert run({"unknown": fmap}) == 0


def test_ow_penalty_is_ten_beta_spread_squared():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 5, 3)
    single = torch.nn.Conv2d(4, 1, 3)
    spread = weight_spread(conv.weight, generator=torch.Generator().manual_seed(3))
    w = conv.weight.detach().flatten(1)
    assert spread.item() <= _exact_spread(w @ w.t()).item() * (1 + 1e-5)
    value = ow_penalty([conv, single], beta=1e-3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(value, 10 * 1e-3 * spread.detach() ** 2)


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_spreads_scale_with_the_square_of_the_input(scale):
    fmap = torch.randn(1, 6, 3, 3, generator=torch.Generator().manual_seed(4))
    a = feature_spread(fmap, generator=torch.Generator().manual_seed(0))
    b = feature_spread(fmap * scale, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(b, a * scale**2, rtol=1e-4, atol=0)
