"""Q-learning targets, TD errors and the Huber loss (DQN: Mnih et al. 2015; double DQN: van Hasselt et al. 2016).

Shapes: actions are on the last dimension, so every op works on a batch ``[B]`` of transitions and equally on
time-major sequences ``[T, B]`` (R2D2): ``q`` tensors are ``[..., A]``, everything else is ``[...]``.
"""

from __future__ import annotations

import torch


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
