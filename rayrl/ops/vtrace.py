"""V-trace off-policy targets (Espeholt et al. 2018, "IMPALA", arXiv 1802.01561, section 4).

Time-major throughout: every per-step tensor is ``[T, B]``, the bootstrap value is ``[B]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class VTraceReturns(NamedTuple):
    """What :func:`vtrace` returns; both fields are ``[T, B]`` and carry no gradient.

    Attributes:
        vs: the V-trace value targets ``v_s`` (regression targets for the baseline).
        pg_advantages: ``rho_s (r_s + discount_s v_{s+1} - V(x_s))``, the advantages for the policy gradient.
    """

    vs: torch.Tensor
    pg_advantages: torch.Tensor


def _clip(x: torch.Tensor, threshold: float | None) -> torch.Tensor:
    return x if threshold is None else x.clamp(max=threshold)


@torch.no_grad()
def vtrace(
    *,
    log_rhos: torch.Tensor,
    discounts: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    bootstrap_value: torch.Tensor,
    clip_rho_threshold: float | None = 1.0,
    clip_pg_rho_threshold: float | None = 1.0,
    clip_c_threshold: float | None = 1.0,
) -> VTraceReturns:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, eq. (1), Remark 1, eq. (4)).

    The n-step V-trace target of eq. (1), with per-step discounts in place of ``gamma``::

        v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} discount_i c_i) rho_t delta_t,
        delta_t = r_t + discount_t V(x_{t+1}) - V(x_t),
        rho_t = min(rho_bar, pi/mu),  c_i = min(c_bar, pi/mu),

    computed with the backward recursion of Remark 1,
    ``v_s - V(x_s) = rho_s delta_s + discount_s c_s (v_{s+1} - V(x_{s+1}))``, with ``v_T = V(x_T) = bootstrap_value``.
    The policy-gradient advantage (section 4.2) is
    ``pg_rho_s (r_s + discount_s v_{s+1} - V(x_s))`` with ``pg_rho_s = min(pg_rho_bar, pi/mu)``.

    The result is a target: it is computed under ``torch.no_grad`` and never carries a gradient.

    Args:
        log_rhos: ``[T, B]`` log importance ratios ``log pi(a_t|x_t) - log mu(a_t|x_t)``.
        discounts: ``[T, B]`` per-step discounts, already ``gamma * (1 - done_t)``.
        rewards: ``[T, B]`` rewards ``r_t``.
        values: ``[T, B]`` baseline values ``V(x_t)`` under the learner's current parameters.
        bootstrap_value: ``[B]`` the value ``V(x_T)`` of the state after the last step.
        clip_rho_threshold: ``rho_bar``; None for no clipping.
        clip_pg_rho_threshold: ``pg_rho_bar`` used in the policy-gradient advantage; None for no clipping.
        clip_c_threshold: ``c_bar``; None for no clipping.

    Returns:
        :class:`VTraceReturns` with ``vs`` and ``pg_advantages``, both ``[T, B]``.
    """
    if not (log_rhos.shape == discounts.shape == rewards.shape == values.shape) or log_rhos.dim() != 2:
        raise ValueError(
            "vtrace expects log_rhos, discounts, rewards, values all [T, B]; got "
            f"{tuple(log_rhos.shape)}, {tuple(discounts.shape)}, {tuple(rewards.shape)}, {tuple(values.shape)}"
        )
    if bootstrap_value.shape != values.shape[1:]:
        raise ValueError(
            f"vtrace expects bootstrap_value [B] = {tuple(values.shape[1:])}, got {tuple(bootstrap_value.shape)}"
        )

    rhos = torch.exp(log_rhos)
    clipped_rhos = _clip(rhos, clip_rho_threshold)
    cs = _clip(rhos, clip_c_threshold)
    values_tp1 = torch.cat([values[1:], bootstrap_value.unsqueeze(0)], dim=0)
    deltas = clipped_rhos * (rewards + discounts * values_tp1 - values)

    # Reverse scan over time; vectorised over the batch.
    acc = torch.zeros_like(bootstrap_value)
    vs_minus_v = []
    for t in range(values.shape[0] - 1, -1, -1):
        acc = deltas[t] + discounts[t] * cs[t] * acc
        vs_minus_v.append(acc)
    vs = torch.stack(vs_minus_v[::-1]) + values

    vs_tp1 = torch.cat([vs[1:], bootstrap_value.unsqueeze(0)], dim=0)
    pg_advantages = _clip(rhos, clip_pg_rho_threshold) * (rewards + discounts * vs_tp1 - values)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages)
