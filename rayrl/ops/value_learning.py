"""Q-learning targets, TD errors and the Huber loss (DQN: Mnih et al. 2015; double DQN: van Hasselt et al. 2016;
R2D2's transformed n-step targets: Kapturowski et al. 2019).

Shapes: actions are on the last dimension, so every op works on a batch ``[B]`` of transitions and equally on
time-major sequences ``[T, B]`` (R2D2): ``q`` tensors are ``[..., A]``, everything else is ``[...]``.
"""

from __future__ import annotations

import torch

from rayrl.ops.returns import n_step_returns
from rayrl.ops.transforms import signed_hyperbolic, signed_parabolic


def q_learning_target(*, r_t: torch.Tensor, discount_t: torch.Tensor, q_t: torch.Tensor) -> torch.Tensor:
    """Q-learning target ``r_t + discount_t max_a q_t(a)`` (Watkins 1989; Mnih et al. 2015, Algorithm 1).

    Args:
        r_t: ``[B]`` rewards (for n-step targets: the discounted n-step reward sum).
        discount_t: ``[B]`` discounts ``gamma^n (1 - done)``.
        q_t: ``[B, A]`` action values at the next state, usually from the target network.

    Returns:
        ``[B]`` targets.
    """
    return r_t + discount_t * q_t.max(dim=-1).values


def double_q_learning_target(
    *, r_t: torch.Tensor, discount_t: torch.Tensor, q_t_value: torch.Tensor, q_t_selector: torch.Tensor
) -> torch.Tensor:
    """Double Q-learning target ``r_t + discount_t q_t_value(argmax_a q_t_selector(a))``.

    Van Hasselt et al. 2016, "Deep Reinforcement Learning with Double Q-learning", eq. (4).
    The online network selects the action and the target network evaluates it, which reduces the
    overestimation bias of the max in :func:`q_learning_target`.

    Args:
        r_t: ``[B]`` rewards (for n-step targets: the discounted n-step reward sum).
        discount_t: ``[B]`` discounts ``gamma^n (1 - done)``.
        q_t_value: ``[B, A]`` next-state action values that evaluate (target network).
        q_t_selector: ``[B, A]`` next-state action values that select (online network).

    Returns:
        ``[B]`` targets.
    """
    a_t = q_t_selector.argmax(dim=-1, keepdim=True)
    return r_t + discount_t * q_t_value.gather(-1, a_t).squeeze(-1)


def transformed_n_step_q_learning_target(
    *,
    r_t: torch.Tensor,
    discount_t: torch.Tensor,
    target_q_t: torch.Tensor,
    selector_q_t: torch.Tensor,
    n: int,
    rescale_eps: float | None = 1e-3,
) -> torch.Tensor:
    """R2D2's n-step double Q-learning targets under value rescaling (Kapturowski et al. 2019, section 2.3, eq. 1;
    rlax ``transformed_n_step_q_learning``), for every step of a time-major sequence ``[T, B]``::

        target_t = h(sum_{k<m} (prod_{j<k} discount_{t+j}) r_{t+k}
                     + (prod_{j<m} discount_{t+j}) h^{-1}(target_q_t[t+m-1](argmax_a selector_q_t[t+m-1](a))))

    with ``m = min(n, T - t)``: the lookahead is truncated at the sequence's end and bootstraps from its last state,
    as :func:`rayrl.ops.n_step_returns` (rlax ``n_step_bootstrapped_returns``). ``h`` is
    :func:`rayrl.ops.signed_hyperbolic` and ``h^{-1}`` its inverse :func:`rayrl.ops.signed_parabolic` (Pohlen et al.
    2018): the network learns ``h(Q)``, so targets are formed on ``h^{-1}`` of its values. The online network selects
    the bootstrap action and the target network evaluates it (double Q).

    Args:
        r_t: ``[T, B]`` rewards of the transitions ``x_t -> x_{t+1}``.
        discount_t: ``[T, B]`` discounts ``gamma (1 - terminated_t)``.
        target_q_t: ``[T, B, A]`` target-network action values at ``x_{t+1}``.
        selector_q_t: ``[T, B, A]`` online-network action values at ``x_{t+1}``, which pick the bootstrap action.
        n: the number of steps, ``n >= 1``.
        rescale_eps: ``h``'s ``eps`` (R2D2: 1e-3); None for no rescaling (plain n-step double Q-learning).

    Returns:
        ``[T, B]`` targets, in the network's (rescaled) units.
    """
    a_t = selector_q_t.argmax(dim=-1, keepdim=True)
    v_t = target_q_t.gather(-1, a_t).squeeze(-1)
    if rescale_eps is None:
        return n_step_returns(r_t=r_t, discount_t=discount_t, v_t=v_t, n=n)
    returns = n_step_returns(r_t=r_t, discount_t=discount_t, v_t=signed_parabolic(v_t, eps=rescale_eps), n=n)
    return signed_hyperbolic(returns, eps=rescale_eps)


def td_error(*, q_tm1: torch.Tensor, a_tm1: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """TD error ``target - q_tm1(a_tm1)`` (Mnih et al. 2015, eq. 2); the target is detached.

    Args:
        q_tm1: ``[B, A]`` (or ``[T, B, A]``) action values at the state the action was taken in.
        a_tm1: ``[B]`` (or ``[T, B]``) integer actions taken.
        target: ``[B]`` (or ``[T, B]``) targets, e.g. from :func:`double_q_learning_target`.

    Returns:
        ``[B]`` (or ``[T, B]``) TD errors; the gradient flows only into ``q_tm1``.
    """
    q_a = q_tm1.gather(-1, a_tm1.long().unsqueeze(-1)).squeeze(-1)
    return target.detach() - q_a


def huber_loss(x: torch.Tensor, *, delta: float = 1.0) -> torch.Tensor:
    """Elementwise Huber loss (Huber 1964); Mnih et al. 2015 ("error clipping", Methods).

    ``0.5 x^2`` for ``|x| <= delta`` and ``delta (|x| - 0.5 delta)`` outside: its gradient is ``x`` clipped to
    ``[-delta, delta]``, which is DQN's clipping of the TD error to ``[-1, 1]``.

    Args:
        x: any shape, typically TD errors.
        delta: where the loss turns from quadratic to linear, ``delta > 0``.

    Returns:
        The loss, same shape as ``x``.
    """
    abs_x = x.abs()
    return torch.where(abs_x <= delta, 0.5 * x**2, delta * (abs_x - 0.5 * delta))
