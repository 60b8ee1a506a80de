"""Multi-step return targets over time-major ``[T, B]`` sequences.

Naming follows rlax: ``r_t[t]`` and ``discount_t[t]`` belong to the transition ``x_t -> x_{t+1}`` (``discount_t``
already holds ``gamma * (1 - done_t)``), and ``v_t[t]`` is the value ``V(x_{t+1})`` of the state that transition
reaches. Gradients flow through ``v_t``; losses detach their targets (see ``td_error`` and ``baseline_loss``).
"""

from __future__ import annotations

import torch


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"expected equal [T, B] shapes, got {shapes}")


def discounted_returns(
    *,
    r_t: torch.Tensor,
    discount_t: torch.Tensor,
    bootstrap_value: torch.Tensor,
    truncated_t: torch.Tensor | None = None,
    v_final_t: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bootstrapped discounted returns over an unroll (Mnih et al. 2016, "A3C", Algorithm S3).

    ``G_t = r_t + discount_t G_{t+1}`` with ``G_T = bootstrap_value``, i.e.
    ``G_t = sum_{k=t}^{T-1} (prod_{j=t}^{k-1} discount_j) r_k + (prod_{j=t}^{T-1} discount_j) bootstrap_value``:
    the A3C return, where each step of a ``t_max`` unroll bootstraps from ``V(x_T)``. Where a time limit cut the
    episode (``truncated_t``), the step is not terminal: ``G_t = r_t + discount_t v_final_t``, bootstrapped from the
    value of the episode's final observation instead of the next episode's return (Pardo et al. 2018).

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` per-step discounts.
        bootstrap_value: ``[B]`` the value ``V(x_T)`` of the state after the last step.
        truncated_t: ``[T, B]`` bool, True where a time limit cut the episode at this step; None if none did.
        v_final_t: ``[T, B]`` the value of the final observation where ``truncated_t`` (read only there).

    Returns:
        ``[T, B]`` returns ``G_t``.
    """
    _check_same_shape(r_t=r_t, discount_t=discount_t)
    if (truncated_t is None) != (v_final_t is None):
        raise ValueError("discounted_returns needs truncated_t and v_final_t together")
    if truncated_t is not None:
        _check_same_shape(r_t=r_t, truncated_t=truncated_t, v_final_t=v_final_t)
    g = bootstrap_value
    returns = []
    for t in range(r_t.shape[0] - 1, -1, -1):
        if truncated_t is not None:
            g = torch.where(truncated_t[t], v_final_t[t], g)
        g = r_t[t] + discount_t[t] * g
        returns.append(g)
    return torch.stack(returns[::-1])


def n_step_returns(*, r_t: torch.Tensor, discount_t: torch.Tensor, v_t: torch.Tensor, n: int) -> torch.Tensor:
    """n-step bootstrapped returns for every step of a sequence (Sutton & Barto 2018, eq. 7.1; R2D2 / Ape-X targets).

    With ``m = min(n, T - t)`` (the lookahead is truncated at the end of the sequence)::

        G_t^(n) = sum_{k<m} (prod_{j<k} discount_{t+j}) r_{t+k} + (prod_{j<m} discount_{t+j}) v_t[t+m-1]

    so ``G_t`` bootstraps from ``V(x_{t+n})`` where the sequence is long enough and from the last available value
    ``V(x_T) = v_t[T-1]`` otherwise. A zero discount (episode end) cuts both the rewards after it and the bootstrap.
    ``n = 1`` gives one-step TD targets ``r_t + discount_t v_t``.

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` per-step discounts.
        v_t: ``[T, B]`` bootstrap values, ``v_t[t] = V(x_{t+1})`` (e.g. ``max_a Q_target(x_{t+1}, a)``).
        n: the number of steps, ``n >= 1``.

    Returns:
        ``[T, B]`` n-step returns.
    """
    if n < 1:
        raise ValueError(f"n_step_returns needs n >= 1, got {n}")
    _check_same_shape(r_t=r_t, discount_t=discount_t, v_t=v_t)
    seq_len = r_t.shape[0]
    # Past the end, pad rewards with 0 and discounts with 1 so truncated steps pass the target through unchanged.
    last_v = v_t[-1:].expand(n - 1, *v_t.shape[1:])
    targets = torch.cat([v_t[n - 1 :], last_v], dim=0)[:seq_len]
    r_pad = torch.cat([r_t, torch.zeros_like(r_t[:1]).expand(n - 1, *r_t.shape[1:])], dim=0)
    d_pad = torch.cat([discount_t, torch.ones_like(discount_t[:1]).expand(n - 1, *r_t.shape[1:])], dim=0)
    for i in range(n - 1, -1, -1):
        targets = r_pad[i : i + seq_len] + d_pad[i : i + seq_len] * targets
    return targets


def lambda_returns(
    *, r_t: torch.Tensor, discount_t: torch.Tensor, v_t: torch.Tensor, lambda_: float | torch.Tensor
) -> torch.Tensor:
    """TD(lambda) returns (Sutton & Barto 2018, eq. 12.18 recursive form; rlax ``lambda_returns``).

    ``G_t = r_t + discount_t ((1 - lambda_t) v_t[t] + lambda_t G_{t+1})`` with ``G_{T-1} = r + discount v_t[T-1]``.
    This equals the lambda-weighted mixture of the truncated n-step returns of :func:`n_step_returns`.
    ``lambda_ = 1`` gives Monte-Carlo returns bootstrapped at the end of the sequence from ``v_t[T-1]``;
    ``lambda_ = 0`` gives one-step TD targets.

    Args:
        r_t: ``[T, B]`` rewards.
        discount_t: ``[T, B]`` per-step discounts.
        v_t: ``[T, B]`` bootstrap values, ``v_t[t] = V(x_{t+1})``.
        lambda_: a float, or a tensor broadcastable to ``[T, B]`` for a per-step lambda.

    Returns:
        ``[T, B]`` lambda-returns.
    """
    _check_same_shape(r_t=r_t, discount_t=discount_t, v_t=v_t)
    lambda_ = torch.as_tensor(lambda_, dtype=v_t.dtype, device=v_t.device).expand_as(v_t)
    g = v_t[-1]
    returns = []
    for t in range(r_t.shape[0] - 1, -1, -1):
        g = r_t[t] + discount_t[t] * ((1 - lambda_[t]) * v_t[t] + lambda_[t] * g)
        returns.append(g)
    return torch.stack(returns[::-1])
