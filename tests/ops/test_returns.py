"""Returns against explicit NumPy sums written like their definitions, plus invariances."""

import numpy as np
import pytest
import torch

from rayrl.ops import discounted_returns, lambda_returns, n_step_returns

SHAPES = [(1, 1), (5, 3), (12, 4)]


def _random_sequence(rng, T, B):
    done = rng.random((T, B)) < 0.15
    return rng.normal(size=(T, B)), 0.9 * (1.0 - done), rng.normal(size=(T, B))


def n_step_ground_truth(r, d, v, n):
    """G_t = sum_{k<m} (prod_{j<k} d_{t+j}) r_{t+k} + (prod_{j<m} d_{t+j}) v[t+m-1], m = min(n, T-t)."""
    T, B = r.shape
    out = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            m = min(n, T - t)
            total = sum(np.prod(d[t : t + k, b]) * r[t + k, b] for k in range(m))
            out[t, b] = total + np.prod(d[t : t + m, b]) * v[t + m - 1, b]
    return out


def lambda_ground_truth(r, d, v, lam):
    """Forward view: G^lambda_t = (1 - lam) sum_{n=1}^{m-1} lam^(n-1) G_t^(n) + lam^(m-1) G_t^(m), m = T - t."""
    T, _ = r.shape
    n_step = {n: n_step_ground_truth(r, d, v, n) for n in range(1, T + 1)}
    out = np.zeros_like(r)
    for t in range(T):
        m = T - t
        out[t] = sum((1 - lam) * lam ** (n - 1) * n_step[n][t] for n in range(1, m)) + lam ** (m - 1) * n_step[m][t]
    return out


def _t(*arrays, dtype=torch.float64):
    return [torch.tensor(a, dtype=dtype) for a in arrays]


@pytest.mark.parametrize("shape", SHAPES)
def test_discounted_returns_match_explicit_sum(shape):
    rng = np.random.default_rng(10 * shape[0] + shape[1])
    r, d, _ = _random_sequence(rng, *shape)
    bootstrap = rng.normal(size=shape[1])
    T, B = shape
    want = np.zeros(shape)
    for b in range(B):
        for t in range(T):
            want[t, b] = sum(np.prod(d[t:k, b]) * r[k, b] for k in range(t, T)) + np.prod(d[t:, b]) * bootstrap[b]
    r_, d_, boot_ = _t(r, d, bootstrap)
    got = discounted_returns(r_t=r_, discount_t=d_, bootstrap_value=boot_)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_discounted_returns_bootstrap_from_the_final_value_where_a_time_limit_cut(shape):
    """G_t sums rewards up to the first cut at or after t (at step e), then bootstraps from v_final[e], not G_{e+1}."""
    rng = np.random.default_rng(20 * shape[0] + shape[1])
    r, d, _ = _random_sequence(rng, *shape)
    truncated = rng.random(shape) < 0.3
    v_final, bootstrap = rng.normal(size=shape), rng.normal(size=shape[1])
    T, B = shape
    want = np.zeros(shape)
    for b in range(B):
        for t in range(T):
            end = next((e for e in range(t, T) if truncated[e, b]), None)
            last = T - 1 if end is None else end
            tail = bootstrap[b] if end is None else v_final[end, b]
            want[t, b] = sum(np.prod(d[t:k, b]) * r[k, b] for k in range(t, last + 1)) + np.prod(d[t:last + 1, b]) * tail
    r_, d_, boot_, v_final_ = _t(r, d, bootstrap, v_final)
    got = discounted_returns(r_t=r_, discount_t=d_, bootstrap_value=boot_, truncated_t=torch.tensor(truncated),
                             v_final_t=v_final_)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_discounted_returns_without_cuts_ignore_the_final_values():
    rng = np.random.default_rng(21)
    r, d, boot = _t(*_random_sequence(rng, 6, 3)[:2], rng.normal(size=3))
    plain = discounted_returns(r_t=r, discount_t=d, bootstrap_value=boot)
    none_cut = discounted_returns(r_t=r, discount_t=d, bootstrap_value=boot, truncated_t=torch.zeros(6, 3, dtype=bool),
                                  v_final_t=torch.full((6, 3), 1e6, dtype=torch.float64))
    torch.testing.assert_close(none_cut, plain)
    with pytest.raises(ValueError, match="together"):
        discounted_returns(r_t=r, discount_t=d, bootstrap_value=boot, truncated_t=torch.zeros(6, 3, dtype=bool))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 20])
def test_n_step_returns_match_explicit_sum(shape, n):
    rng = np.random.default_rng(10 * shape[0] + shape[1] + n)
    r, d, v = _random_sequence(rng, *shape)
    got = n_step_returns(r_t=torch.tensor(r), discount_t=torch.tensor(d), v_t=torch.tensor(v), n=n)
    np.testing.assert_allclose(got.numpy(), n_step_ground_truth(r, d, v, n), rtol=1e-5, atol=1e-5)


def test_one_step_return_is_td_target():
    rng = np.random.default_rng(0)
    r, d, v = _t(*_random_sequence(rng, 6, 3))
    torch.testing.assert_close(n_step_returns(r_t=r, discount_t=d, v_t=v, n=1), r + d * v)


def test_n_at_least_sequence_length_gives_bootstrapped_returns():
    rng = np.random.default_rng(1)
    r, d, v = _t(*_random_sequence(rng, 8, 3))
    want = discounted_returns(r_t=r, discount_t=d, bootstrap_value=v[-1])
    torch.testing.assert_close(n_step_returns(r_t=r, discount_t=d, v_t=v, n=8), want)
    torch.testing.assert_close(n_step_returns(r_t=r, discount_t=d, v_t=v, n=50), want)


def test_n_step_rejects_n_below_one():
    r, d, v = _t(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n >= 1"):
        n_step_returns(r_t=r, discount_t=d, v_t=v, n=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 1.0])
def test_lambda_returns_match_forward_view(shape, lam):
    rng = np.random.default_rng(10 * shape[0] + shape[1])
    r, d, v = _random_sequence(rng, *shape)
    got = lambda_returns(r_t=torch.tensor(r), discount_t=torch.tensor(d), v_t=torch.tensor(v), lambda_=lam)
    np.testing.assert_allclose(got.numpy(), lambda_ground_truth(r, d, v, lam), rtol=1e-5, atol=1e-5)


def test_lambda_one_gives_monte_carlo_returns():
    rng = np.random.default_rng(2)
    T, B = 10, 3
    r = rng.normal(size=(T, B))
    d = np.full((T, B), 0.99)
    d[-1] = 0.0  # the episode ends inside the sequence: the return is the plain discounted reward sum
    v = rng.normal(size=(T, B))
    want = np.array([[sum(0.99 ** (k - t) * r[k, b] for k in range(t, T)) for b in range(B)] for t in range(T)])
    got = lambda_returns(r_t=torch.tensor(r), discount_t=torch.tensor(d), v_t=torch.tensor(v), lambda_=1.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_lambda_zero_gives_one_step_targets():
    rng = np.random.default_rng(3)
    r, d, v = _t(*_random_sequence(rng, 7, 2))
    torch.testing.assert_close(lambda_returns(r_t=r, discount_t=d, v_t=v, lambda_=0.0), r + d * v)


def test_per_step_lambda_zero_splits_the_sequence():
    # lambda_k = 0 makes G_k = r_k + d_k v_k, so the prefix [0..k] and the suffix are independent lambda-returns.
    rng = np.random.default_rng(4)
    r, d, v = _t(*_random_sequence(rng, 9, 3))
    k, lam = 4, 0.7
    lam_t = torch.full((9, 1), lam, dtype=torch.float64)
    lam_t[k] = 0.0
    got = lambda_returns(r_t=r, discount_t=d, v_t=v, lambda_=lam_t)
    prefix = lambda_returns(r_t=r[: k + 1], discount_t=d[: k + 1], v_t=v[: k + 1], lambda_=lam)
    suffix = lambda_returns(r_t=r[k + 1 :], discount_t=d[k + 1 :], v_t=v[k + 1 :], lambda_=lam)
    torch.testing.assert_close(got, torch.cat([prefix, suffix]))


def test_float32_and_gradients_flow_through_values():
    rng = np.random.default_rng(5)
    r, d, v = _t(*_random_sequence(rng, 6, 2), dtype=torch.float32)
    v.requires_grad_(True)
    for out in (
        discounted_returns(r_t=r, discount_t=d, bootstrap_value=v[-1]),
        n_step_returns(r_t=r, discount_t=d, v_t=v, n=3),
        lambda_returns(r_t=r, discount_t=d, v_t=v, lambda_=0.9),
    ):
        assert out.dtype == torch.float32 and out.shape == (6, 2)
        (grad,) = torch.autograd.grad(out.sum(), v)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    np.testing.assert_allclose(
        n_step_returns(r_t=r, discount_t=d, v_t=v, n=3).detach().numpy(),
        n_step_ground_truth(r.double().numpy(), d.double().numpy(), v.detach().double().numpy(), 3),
        rtol=1e-5,
        atol=1e-5,
    )
