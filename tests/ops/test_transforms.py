"""Value rescaling h and its inverse (Pohlen et al. 2018)."""

import numpy as np
import pytest
import torch

from rayrl.ops import signed_hyperbolic, signed_parabolic

WIDE = np.concatenate([-np.logspace(-6, 6, 500), [0.0], np.logspace(-6, 6, 500), np.linspace(-50, 50, 1001)])


@pytest.mark.parametrize("eps", [1e-3, 1e-2, 0.0])
def test_hyperbolic_matches_formula(eps):
    want = np.sign(WIDE) * (np.sqrt(np.abs(WIDE) + 1) - 1) + eps * WIDE
    np.testing.assert_allclose(signed_hyperbolic(torch.tensor(WIDE), eps=eps).numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_parabolic_matches_paper_formula(eps):
    # Pohlen et al. 2018, Proposition A.2, written as in the paper (with the sqrt(...) - 1 cancellation).
    y = np.linspace(-100, 100, 2001)
    want = np.sign(y) * (((np.sqrt(1 + 4 * eps * (np.abs(y) + 1 + eps)) - 1) / (2 * eps)) ** 2 - 1)
    np.testing.assert_allclose(signed_parabolic(torch.tensor(y), eps=eps).numpy(), want, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("eps", [1e-3, 1e-2, 0.0])
def test_parabolic_inverts_hyperbolic_in_float64(eps):
    x = torch.tensor(WIDE)
    x_back = signed_parabolic(signed_hyperbolic(x, eps=eps), eps=eps)
    np.testing.assert_allclose(x_back.numpy(), WIDE, rtol=1e-5, atol=1e-5)
    y = torch.tensor(np.linspace(-1e3, 1e3, 2001))
    y_back = signed_hyperbolic(signed_parabolic(y, eps=eps), eps=eps)
    np.testing.assert_allclose(y_back.numpy(), y.numpy(), rtol=1e-5, atol=1e-5)


def test_round_trip_in_float32():
    x = torch.tensor(WIDE, dtype=torch.float32)
    got = signed_parabolic(signed_hyperbolic(x))
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), x.numpy(), rtol=1e-5, atol=1e-5)


def test_hyperbolic_is_odd_and_increasing():
    x = torch.tensor(np.sort(WIDE))
    h = signed_hyperbolic(x)
    torch.testing.assert_close(signed_hyperbolic(-x), -h)
    assert (torch.diff(h) >= 0).all()
