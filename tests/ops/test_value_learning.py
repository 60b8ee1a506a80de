"""Q-learning targets, TD errors and the Huber loss against per-element NumPy loops."""

import numpy as np
import pytest
import torch

from rayrl.ops import double_q_learning_target, huber_loss, q_learning_target, td_error


def _transitions(rng, B=16, A=5):
    return rng.normal(size=B), 0.99 * (rng.random(B) > 0.2), rng.normal(size=(B, A)), rng.normal(size=(B, A))


def test_q_learning_target_matches_loop():
    rng = np.random.default_rng(0)
    r, d, q, _ = _transitions(rng)
    want = np.array([r[i] + d[i] * max(q[i]) for i in range(len(r))])
    got = q_learning_target(r_t=torch.tensor(r), discount_t=torch.tensor(d), q_t=torch.tensor(q))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_double_q_learning_target_matches_loop():
    rng = np.random.default_rng(1)
    r, d, q_value, q_selector = _transitions(rng)
    want = np.array([r[i] + d[i] * q_value[i][int(np.argmax(q_selector[i]))] for i in range(len(r))])
    got = double_q_learning_target(
        r_t=torch.tensor(r),
        discount_t=torch.tensor(d),
        q_t_value=torch.tensor(q_value),
        q_t_selector=torch.tensor(q_selector),
    )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got.numpy(), r + d * q_value.max(axis=1)), "selector must matter on random inputs"


def test_double_q_with_same_network_equals_q_learning():
    rng = np.random.default_rng(2)
    r, d, q, _ = (torch.tensor(x, dtype=torch.float32) for x in _transitions(rng))
    got = double_q_learning_target(r_t=r, discount_t=d, q_t_value=q, q_t_selector=q)
    torch.testing.assert_close(got, q_learning_target(r_t=r, discount_t=d, q_t=q))


def test_targets_work_on_time_major_sequences():
    rng = np.random.default_rng(3)
    T, B, A = 4, 3, 6
    r, d = rng.normal(size=(T, B)), np.full((T, B), 0.97)
    q_value, q_selector = rng.normal(size=(T, B, A)), rng.normal(size=(T, B, A))
    got = double_q_learning_target(
        r_t=torch.tensor(r),
        discount_t=torch.tensor(d),
        q_t_value=torch.tensor(q_value),
        q_t_selector=torch.tensor(q_selector),
    )
    want = np.zeros((T, B))
    for t in range(T):
        for b in range(B):
            want[t, b] = r[t, b] + d[t, b] * q_value[t, b, np.argmax(q_selector[t, b])]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(8,), (5, 3)])
def test_td_error_matches_loop_and_detaches_target(shape):
    rng = np.random.default_rng(4)
    A = 4
    q = rng.normal(size=(*shape, A))
    a = rng.integers(0, A, size=shape)
    target = rng.normal(size=shape)
    want = np.zeros(shape)
    for idx in np.ndindex(*shape):
        want[idx] = target[idx] - q[idx][a[idx]]

    q_t = torch.tensor(q, requires_grad=True)
    target_t = torch.tensor(target, requires_grad=True)
    got = td_error(q_tm1=q_t, a_tm1=torch.tensor(a), target=target_t)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)

    got.sum().backward()
    assert target_t.grad is None
    expected_grad = np.zeros_like(q)
    for idx in np.ndindex(*shape):
        expected_grad[idx][a[idx]] = -1.0
    np.testing.assert_array_equal(q_t.grad.numpy(), expected_grad)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huber_is_quadratic_inside_and_linear_outside(delta, dtype):
    x = np.linspace(-10, 10, 2001)
    want = np.array([0.5 * v**2 if abs(v) <= delta else delta * (abs(v) - 0.5 * delta) for v in x])
    x_t = torch.tensor(x, dtype=dtype, requires_grad=True)
    got = huber_loss(x_t, delta=delta)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    # DQN's "error clipping": the gradient is x clipped to [-delta, delta].
    got.sum().backward()
    np.testing.assert_allclose(x_t.grad.numpy(), np.clip(x, -delta, delta), rtol=1e-5, atol=1e-5)
