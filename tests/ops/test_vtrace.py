"""V-trace against the explicit sum-of-products definition (Espeholt et al. 2018, eq. (1)), plus invariances."""

import numpy as np
import pytest
import torch

from rayrl.ops import discounted_returns, vtrace

SHAPES = [(1, 1), (5, 3), (20, 8), (7, 1)]


def _clip(x, threshold):
    return x if threshold is None else np.minimum(threshold, x)


def vtrace_ground_truth(log_rhos, discounts, rewards, values, bootstrap_value, rho_bar, pg_rho_bar, c_bar):
    """v_s = V(x_s) + sum_{t>=s} (prod_{i=s}^{t-1} discount_i)(prod_{i=s}^{t-1} c_i) rho_t delta_t, double loops."""
    T, B = rewards.shape
    rhos = np.exp(log_rhos)
    rho, c, pg_rho = _clip(rhos, rho_bar), _clip(rhos, c_bar), _clip(rhos, pg_rho_bar)
    v_ext = np.concatenate([values, bootstrap_value[None]], axis=0)  # V(x_0) .. V(x_T)
    vs = np.zeros((T, B))
    for b in range(B):
        for s in range(T):
            total = v_ext[s, b]
            for t in range(s, T):
                gamma_prod = np.prod(discounts[s:t, b])
                c_prod = np.prod(c[s:t, b])
                delta = rewards[t, b] + discounts[t, b] * v_ext[t + 1, b] - v_ext[t, b]
                total += gamma_prod * c_prod * rho[t, b] * delta
            vs[s, b] = total
    vs_ext = np.concatenate([vs, bootstrap_value[None]], axis=0)
    pg_adv = np.zeros((T, B))
    for b in range(B):
        for s in range(T):
            pg_adv[s, b] = pg_rho[s, b] * (rewards[s, b] + discounts[s, b] * vs_ext[s + 1, b] - values[s, b])
    return vs, pg_adv


def _random_inputs(rng, T, B, log_rho_scale=1.0):
    done = rng.random((T, B)) < 0.1
    return dict(
        log_rhos=rng.normal(scale=log_rho_scale, size=(T, B)),
        discounts=0.95 * (1.0 - done),
        rewards=rng.normal(size=(T, B)),
        values=rng.normal(size=(T, B)),
        bootstrap_value=rng.normal(size=(B,)),
    )


def _run(inputs, dtype=torch.float64, **thresholds):
    tensors = {k: torch.tensor(v, dtype=dtype) for k, v in inputs.items()}
    return vtrace(**tensors, **thresholds)


THRESHOLDS = [
    pytest.param(dict(clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0, clip_c_threshold=1.0), id="clip-1"),
    pytest.param(dict(clip_rho_threshold=0.8, clip_pg_rho_threshold=0.5, clip_c_threshold=1.2), id="clip-distinct"),
    pytest.param(dict(clip_rho_threshold=None, clip_pg_rho_threshold=None, clip_c_threshold=None), id="no-clip"),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("thresholds", THRESHOLDS)
def test_vtrace_matches_sum_of_products_definition(shape, thresholds):
    rng = np.random.default_rng(100 * shape[0] + shape[1])
    inputs = _random_inputs(rng, *shape)
    rho_bar, pg_bar, c_bar = (
        thresholds["clip_rho_threshold"],
        thresholds["clip_pg_rho_threshold"],
        thresholds["clip_c_threshold"],
    )
    if shape[0] * shape[1] > 4 and rho_bar is not None:
        assert (np.exp(inputs["log_rhos"]) > min(rho_bar, pg_bar, c_bar)).any(), "clipping must be active"
    want_vs, want_pg = vtrace_ground_truth(**inputs, rho_bar=rho_bar, pg_rho_bar=pg_bar, c_bar=c_bar)
    got = _run(inputs, **thresholds)
    np.testing.assert_allclose(got.vs.numpy(), want_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.pg_advantages.numpy(), want_pg, rtol=1e-5, atol=1e-5)


def test_clipping_inactive_when_ratios_below_thresholds():
    rng = np.random.default_rng(0)
    inputs = _random_inputs(rng, 10, 4)
    inputs["log_rhos"] = -np.abs(inputs["log_rhos"])  # every rho <= 1: clipping at 1 changes nothing
    clipped = _run(inputs)
    unclipped = _run(inputs, clip_rho_threshold=None, clip_pg_rho_threshold=None, clip_c_threshold=None)
    torch.testing.assert_close(clipped.vs, unclipped.vs)
    torch.testing.assert_close(clipped.pg_advantages, unclipped.pg_advantages)


def test_each_threshold_changes_its_own_output():
    rng = np.random.default_rng(1)
    inputs = _random_inputs(rng, 10, 4, log_rho_scale=2.0)
    base = _run(inputs, clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0, clip_c_threshold=1.0)
    pg_only = _run(inputs, clip_rho_threshold=1.0, clip_pg_rho_threshold=0.3, clip_c_threshold=1.0)
    torch.testing.assert_close(pg_only.vs, base.vs)  # pg_rho_bar does not enter vs
    assert not torch.allclose(pg_only.pg_advantages, base.pg_advantages)
    c_only = _run(inputs, clip_rho_threshold=1.0, clip_pg_rho_threshold=1.0, clip_c_threshold=0.3)
    assert not torch.allclose(c_only.vs, base.vs)


def test_float32_matches_float64_ground_truth():
    rng = np.random.default_rng(2)
    inputs = _random_inputs(rng, 20, 8)
    want_vs, want_pg = vtrace_ground_truth(**inputs, rho_bar=1.0, pg_rho_bar=1.0, c_bar=1.0)
    got = _run(inputs, dtype=torch.float32)
    assert got.vs.dtype == torch.float32 and got.pg_advantages.dtype == torch.float32
    np.testing.assert_allclose(got.vs.numpy(), want_vs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.pg_advantages.numpy(), want_pg, rtol=1e-4, atol=1e-4)


def test_two_episodes_joined_with_done_equal_each_alone():
    rng = np.random.default_rng(3)
    T1, T2, B = 6, 9, 3
    ep1, ep2 = _random_inputs(rng, T1, B), _random_inputs(rng, T2, B)
    ep1["discounts"] = np.full((T1, B), 0.9)
    ep1["discounts"][-1] = 0.0  # the episode ends at its last step
    ep2["discounts"] = np.full((T2, B), 0.9)
    joined = {k: np.concatenate([ep1[k], ep2[k]], axis=0) for k in ("log_rhos", "discounts", "rewards", "values")}
    joined["bootstrap_value"] = ep2["bootstrap_value"]
    ep1_alone = dict(ep1, bootstrap_value=rng.normal(size=(B,)) * 100)  # ignored after a terminal step

    got = _run(joined)
    first, second = _run(ep1_alone), _run(ep2)
    torch.testing.assert_close(got.vs[:T1], first.vs)
    torch.testing.assert_close(got.vs[T1:], second.vs)
    torch.testing.assert_close(got.pg_advantages[:T1], first.pg_advantages)
    torch.testing.assert_close(got.pg_advantages[T1:], second.pg_advantages)


@pytest.mark.parametrize("shape", SHAPES)
def test_on_policy_vtrace_equals_bootstrapped_n_step_returns(shape):
    rng = np.random.default_rng(4)
    inputs = _random_inputs(rng, *shape)
    inputs["log_rhos"] = np.zeros(shape)  # pi == mu: rho = c = 1, so no clipping bites
    got = _run(inputs)
    t = {k: torch.tensor(v) for k, v in inputs.items()}
    want = discounted_returns(r_t=t["rewards"], discount_t=t["discounts"], bootstrap_value=t["bootstrap_value"])
    torch.testing.assert_close(got.vs, want)


def test_targets_carry_no_gradient():
    rng = np.random.default_rng(5)
    inputs = {k: torch.tensor(v, requires_grad=True) for k, v in _random_inputs(rng, 4, 2).items()}
    out = vtrace(**inputs)
    assert not out.vs.requires_grad and not out.pg_advantages.requires_grad


def test_rejects_mismatched_shapes():
    rng = np.random.default_rng(6)
    inputs = {k: torch.tensor(v) for k, v in _random_inputs(rng, 4, 2).items()}
    with pytest.raises(ValueError, match="bootstrap_value"):
        vtrace(**dict(inputs, bootstrap_value=torch.zeros(4)))
    with pytest.raises(ValueError, match=r"\[T, B\]"):
        vtrace(**dict(inputs, rewards=torch.zeros(4, 3)))
