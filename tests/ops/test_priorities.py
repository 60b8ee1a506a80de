"""Replay priorities: per-transition (Ape-X) and per-sequence (R2D2)."""

import numpy as np
import pytest
import torch

from rayrl.ops import sequence_priorities, td_priorities


def test_td_priorities_numpy_in_numpy_out():
    td = np.array([-2.0, 0.0, 0.5], dtype=np.float32)
    got = td_priorities(td_errors=td, eps=0.01)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, [2.01, 0.01, 0.51], rtol=1e-6)


def test_td_priorities_torch_in_torch_out_without_gradient():
    td = torch.tensor([-2.0, 0.0, 0.5], requires_grad=True)
    got = td_priorities(td_errors=td)
    assert isinstance(got, torch.Tensor) and not got.requires_grad
    np.testing.assert_allclose(got.numpy(), [2.0 + 1e-6, 1e-6, 0.5 + 1e-6], rtol=1e-6)


def sequence_ground_truth(td, eta, mask):
    T, B = td.shape
    out = np.zeros(B)
    for b in range(B):
        valid = [abs(td[t, b]) for t in range(T) if mask[t, b]]
        out[b] = eta * max(valid) + (1 - eta) * sum(valid) / len(valid) if valid else 0.0
    return out


@pytest.mark.parametrize("eta", [0.0, 0.5, 0.9, 1.0])
def test_sequence_priorities_match_loop(eta):
    rng = np.random.default_rng(0)
    td = rng.normal(size=(80, 6))
    got = sequence_priorities(td_errors=torch.tensor(td), eta=eta)
    want = sequence_ground_truth(td, eta, np.ones_like(td, dtype=bool))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("as_numpy", [False, True])
def test_sequence_priorities_ignore_masked_steps(as_numpy):
    rng = np.random.default_rng(1)
    T, B = 10, 5
    td = rng.normal(size=(T, B))
    lengths = np.array([10, 7, 1, 4, 0])
    mask = np.arange(T)[:, None] < lengths[None, :]
    td[~mask] = 1e6  # must not leak into max or mean
    want = sequence_ground_truth(td, 0.9, mask)
    if as_numpy:
        got = sequence_priorities(td_errors=td, eta=0.9, mask=mask)
        assert isinstance(got, np.ndarray)
    else:
        got = sequence_priorities(td_errors=torch.tensor(td), eta=0.9, mask=torch.tensor(mask, dtype=torch.float32))
        assert isinstance(got, torch.Tensor)
        got = got.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got[-1] == 0.0  # a sequence with no valid step


def test_sequence_priorities_float32_and_no_gradient():
    td = torch.randn(20, 4, requires_grad=True)
    got = sequence_priorities(td_errors=td)
    assert got.dtype == torch.float32 and got.shape == (4,) and not got.requires_grad
