"""V-trace against the explicit sum-of-products definition (Espeholt et al. 2018, eq. (1)), plus invariances."""

import numpy as np
import pytest
import torch

from rayrl.ops import discounted_returns, vtrace

SHAPES = [(1, 1), (5, 3), (20, 8), (7, 1)]


def _clip(x, threshold):
    return x if threshold is None else np.minimum(threshold, x)


def vtrace_ground_truth(log_rhos, discounts, rewards, values, bootstrap_value, rho_bar, pg_rho_bar, c_bar,
                        truncated=None, final_values=None):
    """v_s = V(x_s) + sum_{t>=s} (prod_{i=s}^{t-1} discount_i)(prod_{i=s}^{t-1} c_i) rho_t delta_t, double loops.

    With time-limit cuts, the sum stops at the first cut at or after s, and a cut step's next value is its final
    value: delta_t = r_t + discount_t V(final_t) - V(x_t), and v_{t+1} seen from t is V(final_t).
    """
    T, B = rewards.shape
    truncated = np.zeros((T, B), bool) if truncated is None else truncated
    rhos = np.exp(log_rhos)
    rho, c, pg_rho = _clip(rhos, rho_bar), _clip(rhos, c_bar), _clip(rhos, pg_rho_bar)
    v_ext = np.concatenate([values, bootstrap_value[None]], axis=0)  # V(x_0) .. V(x_T)
    next_v = np.where(truncated, final_values, v_ext[1:]) if final_values is not None else v_ext[1:]
    vs = np.zeros((T, B))
    for b in range(B):
        for s in range(T):
            total = v_ext[s, b]
            for t in range(s, T):
                gamma_prod = np.prod(discounts[s:t, b])
                c_prod = np.prod(c[s:t, b])
                delta = rewards[t, b] + discounts[t, b] * next_v[t, b] - v_ext[t, b]
                total += gamma_prod * c_prod * rho[t, b] * delta
                if truncated[t, b]:
                    break
            vs[s, b] = total
    vs_ext = np.concatenate([vs, bootstrap_value[None]], axis=0)
    pg_adv = np.zeros((T, B))
    for b in range(B):
        for s in range(T):
            v_next = next_v[s, b] if truncated[s, b] else vs_ext[s + 1, b]
            pg_adv[s, b] = pg_rho[s, b] * (rewards[s, b] + discounts[s, b] * v_next - values[s, b])
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
    tensors = {k: torch.tensor(v, dtype=torch.bool if k == "truncated" else dtype) for k, v in inputs.items()}
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


def _with_cuts(rng, inputs, rate=0.25):
    """Time-limit cuts at random steps: discount stays gamma there (a cut is not terminal), with final values."""
    truncated = rng.random(inputs["rewards"].shape) < rate
    return dict(inputs, discounts=np.where(truncated, 0.95, inputs["discounts"]), truncated=truncated,
                final_values=rng.normal(size=truncated.shape))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("thresholds", THRESHOLDS)
def test_vtrace_with_time_limit_cuts_matches_the_definition(shape, thresholds):
    rng = np.random.default_rng(200 * shape[0] + shape[1])
    inputs = _with_cuts(rng, _random_inputs(rng, *shape))
    want_vs, want_pg = vtrace_ground_truth(**inputs, rho_bar=thresholds["clip_rho_threshold"],
                                           pg_rho_bar=thresholds["clip_pg_rho_threshold"],
                                           c_bar=thresholds["clip_c_threshold"])
    got = _run(inputs, **thresholds)
    np.testing.assert_allclose(got.vs.numpy(), want_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.pg_advantages.numpy(), want_pg, rtol=1e-5, atol=1e-5)


def test_a_cut_rollout_equals_its_two_parts_with_the_first_bootstrapped_from_the_final_value():
    rng = np.random.default_rng(7)
    T1, T2, B = 6, 9, 3
    part1, part2 = _random_inputs(rng, T1, B, log_rho_scale=2.0), _random_inputs(rng, T2, B, log_rho_scale=2.0)
    part1["discounts"][-1] = 0.95  # the time limit: not terminal
    final_value = rng.normal(size=B)
    joined = {k: np.concatenate([part1[k], part2[k]]) for k in ("log_rhos", "discounts", "rewards", "values")}
    truncated = np.zeros((T1 + T2, B), bool)
    truncated[T1 - 1] = True
    final_values = np.zeros((T1 + T2, B))
    final_values[T1 - 1] = final_value
    got = _run(dict(joined, bootstrap_value=part2["bootstrap_value"], truncated=truncated, final_values=final_values))
    first, second = _run(dict(part1, bootstrap_value=final_value)), _run(part2)
    torch.testing.assert_close(got.vs, torch.cat([first.vs, second.vs]))
    torch.testing.assert_close(got.pg_advantages, torch.cat([first.pg_advantages, second.pg_advantages]))


def test_no_cuts_give_the_plain_targets_and_final_values_need_truncated():
    rng = np.random.default_rng(8)
    inputs = _random_inputs(rng, 7, 3)
    none_cut = dict(inputs, truncated=np.zeros((7, 3), bool), final_values=np.full((7, 3), 1e6))
    plain, got = _run(inputs), _run(none_cut)
    torch.testing.assert_close(got.vs, plain.vs)
    torch.testing.assert_close(got.pg_advantages, plain.pg_advantages)
    with pytest.raises(ValueError, match="together"):
        _run(dict(inputs, final_values=np.zeros((7, 3))))


def test_on_policy_vtrace_with_cuts_equals_the_cut_discounted_returns():
    rng = np.random.default_rng(9)
    inputs = _with_cuts(rng, _random_inputs(rng, 12, 4))
    inputs["log_rhos"] = np.zeros((12, 4))
    got = _run(inputs)
    t = {k: torch.tensor(v) for k, v in inputs.items()}
    want = discounted_returns(r_t=t["rewards"], discount_t=t["discounts"], bootstrap_value=t["bootstrap_value"],
                              truncated_t=t["truncated"], v_final_t=t["final_values"])
    torch.testing.assert_close(got.vs, want)


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
