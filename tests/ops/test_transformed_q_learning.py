"""R2D2's transformed n-step double-Q targets against a NumPy loop written like the formula, plus invariances."""

import numpy as np
import pytest
import torch

from rayrl.ops import double_q_learning_target, transformed_n_step_q_learning_target

EPS = 1e-3


def h(x, eps=EPS):
    return np.sign(x) * (np.sqrt(np.abs(x) + 1) - 1) + eps * x


def h_inv(x, eps=EPS):
    return np.sign(x) * (((np.sqrt(1 + 4 * eps * (np.abs(x) + 1 + eps)) - 1) / (2 * eps)) ** 2 - 1)


def numpy_targets(r, d, q_value, q_selector, n, rescale):
    """target_t = h(sum_{k<m} gamma^(k) r_{t+k} + gamma^(m) h^-1(q_value[t+m-1](argmax q_selector[t+m-1])))."""
    T, B = r.shape
    out = np.zeros((T, B))
    for t in range(T):
        for b in range(B):
            m = min(n, T - t)
            g, discount = 0.0, 1.0
            for k in range(m):
                g += discount * r[t + k, b]
                discount *= d[t + k, b]
            v = q_value[t + m - 1, b, np.argmax(q_selector[t + m - 1, b])]
            g += discount * (h_inv(v) if rescale else v)
            out[t, b] = h(g) if rescale else g
    return out


def random_sequences(seed, T=9, B=4, A=3, scale=20.0):
    rng = np.random.default_rng(seed)
    r = scale * rng.normal(size=(T, B))
    d = 0.97 * (rng.random((T, B)) > 0.15)
    return r, d, scale * rng.normal(size=(T, B, A)), rng.normal(size=(T, B, A))


def targets(r, d, q_value, q_selector, n, rescale_eps=EPS):
    return transformed_n_step_q_learning_target(
        r_t=torch.tensor(r), discount_t=torch.tensor(d), target_q_t=torch.tensor(q_value),
        selector_q_t=torch.tensor(q_selector), n=n, rescale_eps=rescale_eps).numpy()


@pytest.mark.parametrize("n", [1, 3, 5, 12])
@pytest.mark.parametrize("rescale", [True, False])
def test_matches_the_numpy_formula(n, rescale):
    r, d, q_value, q_selector = random_sequences(n)
    got = targets(r, d, q_value, q_selector, n, EPS if rescale else None)
    np.testing.assert_allclose(got, numpy_targets(r, d, q_value, q_selector, n, rescale), rtol=1e-6, atol=1e-6)


def test_one_step_without_rescaling_is_double_q_learning():
    r, d, q_value, q_selector = (torch.tensor(x) for x in random_sequences(0))
    got = transformed_n_step_q_learning_target(r_t=r, discount_t=d, target_q_t=q_value, selector_q_t=q_selector,
                                               n=1, rescale_eps=None)
    want = double_q_learning_target(r_t=r, discount_t=d, q_t_value=q_value, q_t_selector=q_selector)
    torch.testing.assert_close(got, want)


def test_one_step_with_rescaling_is_h_of_the_double_q_target_on_h_inverse():
    r, d, q_value, q_selector = random_sequences(1)
    a = np.argmax(q_selector, axis=-1)[..., None]
    want = h(r + d * h_inv(np.take_along_axis(q_value, a, axis=-1)[..., 0]))
    np.testing.assert_allclose(targets(r, d, q_value, q_selector, 1), want, rtol=1e-6, atol=1e-6)


def test_the_online_values_select_and_the_target_values_evaluate():
    r, d, q_value, q_selector = random_sequences(2)
    got = targets(r, d, q_value, q_selector, 3)
    assert not np.allclose(got, targets(r, d, q_value, q_value, 3)), "the selector must matter"
    # Raising the target values of actions the selector does not pick changes nothing.
    picked = np.eye(q_value.shape[-1], dtype=bool)[np.argmax(q_selector, axis=-1)]
    np.testing.assert_allclose(targets(r, d, np.where(picked, q_value, q_value + 100), q_selector, 3), got)


def test_a_zero_discount_cuts_the_sum_and_the_bootstrap():
    T, n = 8, 5
    r, d, q_value, q_selector = random_sequences(3, T=T)
    d[:] = 0.9
    d[3] = 0.0  # the episode terminates with the transition out of step 3
    got = targets(r, d, q_value, q_selector, n)
    r2, q2 = r.copy(), q_value.copy()
    r2[4:] += 7.0
    q2[3:] -= 5.0  # q_value[t] values x_{t+1}: x_4 onwards lies past the end
    np.testing.assert_allclose(targets(r2, d, q2, q_selector, n)[:4], got[:4])
    want_step_1 = h(r[1] + 0.9 * r[2] + 0.81 * r[3])
    np.testing.assert_allclose(got[1], want_step_1, rtol=1e-6)


def test_the_lookahead_is_truncated_at_the_sequence_end_and_bootstraps_from_its_last_state():
    T, n = 4, 10
    r, d, q_value, q_selector = random_sequences(4, T=T)
    d[:] = 0.5
    got = targets(r, d, q_value, q_selector, n)
    v_last = h_inv(q_value[-1, np.arange(4), np.argmax(q_selector[-1], axis=-1)])
    np.testing.assert_allclose(got[T - 2], h(r[T - 2] + 0.5 * r[T - 1] + 0.25 * v_last), rtol=1e-6)
    np.testing.assert_allclose(got[T - 1], h(r[T - 1] + 0.5 * v_last), rtol=1e-6)


def test_rescaling_is_the_identity_on_an_exact_fixed_point():
    # With h^{-1}(q) the true return of a deterministic chain, the target is q itself: h(h^{-1}(q)) = q.
    T, B, A = 6, 2, 2
    gamma, reward = 0.9, 2.0
    value = reward / (1 - gamma)
    q = torch.full((T, B, A), float(h(value)), dtype=torch.float64)
    got = transformed_n_step_q_learning_target(
        r_t=torch.full((T, B), reward, dtype=torch.float64), discount_t=torch.full((T, B), gamma, dtype=torch.float64),
        target_q_t=q, selector_q_t=q, n=3)
    torch.testing.assert_close(got, q[..., 0])


def test_n_below_one_is_an_error():
    r, d, q_value, q_selector = random_sequences(5)
    with pytest.raises(ValueError, match="n >= 1"):
        targets(r, d, q_value, q_selector, 0)
