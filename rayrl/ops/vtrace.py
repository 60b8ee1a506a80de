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
    truncated: torch.Tensor | None = None,
    final_values: torch.Tensor | None = None,
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

    A step cut by a time limit (``truncated``) is not terminal: its ``discount_t`` stays ``gamma``, and its next
    value is ``final_values_t``, the value of the episode's final observation, in place of ``V(x_{t+1})`` (which
    starts the next episode); the trace stops there (``c_t`` counts as 0), so the next episode's corrections do
    not flow back. Cutting a rollout at a truncation and bootstrapping its first part from ``final_values`` gives
    the same targets (Pardo et al. 2018, "Time Limits in Reinforcement Learning").

    The result is a target: it is computed under ``torch.no_grad`` and never carries a gradient.

    Args:
        log_rhos: ``[T, B]`` log importance ratios ``log pi(a_t|x_t) - log mu(a_t|x_t)``.
        discounts: ``[T, B]`` per-step discounts, already ``gamma * (1 - done_t)``.
        rewards: ``[T, B]`` rewards ``r_t``.
        values: ``[T, B]`` baseline values ``V(x_t)`` under the learner's current parameters.
        bootstrap_value: ``[B]`` the value ``V(x_T)`` of the state after the last step.
        truncated: ``[T, B]`` bool, True where a time limit cut the episode at this step; None if none did.
        final_values: ``[T, B]`` the value of the final observation where ``truncated`` (read only there); needed
            with ``truncated``.
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

    if (truncated is None) != (final_values is None):
        raise ValueError("vtrace needs truncated and final_values together")
    if truncated is not None and not (truncated.shape == final_values.shape == values.shape):
        raise ValueError(
            f"vtrace expects truncated and final_values [T, B] = {tuple(values.shape)}, got "
            f"{tuple(truncated.shape)}, {tuple(final_values.shape)}"
        )

    rhos = torch.exp(log_rhos)
    clipped_rhos = _clip(rhos, clip_rho_threshold)
    cs = _clip(rhos, clip_c_threshold)
    values_tp1 = torch.cat([values[1:], bootstrap_value.unsqueeze(0)], dim=0)
    traced = torch.ones_like(values)  # 1 where the trace continues into step t + 1, 0 where a time limit cut it
    if truncated is not None:
        values_tp1 = torch.where(truncated, final_values, values_tp1)
        traced = (~truncated).to(values.dtype)
    deltas = clipped_rhos * (rewards + discounts * values_tp1 - values)
    trace_discounts = discounts * cs * traced

    # Reverse scan over time; vectorised over the batch.
    acc = torch.zeros_like(bootstrap_value)
    vs_minus_v = []
    for t in range(values.shape[0] - 1, -1, -1):
        acc = deltas[t] + trace_discounts[t] * acc
        vs_minus_v.append(acc)
    vs_minus_v = torch.stack(vs_minus_v[::-1])
    vs = vs_minus_v + values

    # v_{s+1} seen from step s: vs[s + 1], or the bootstrap or final value where no trace follows.
    vs_tp1 = values_tp1 + traced * torch.cat([vs_minus_v[1:], torch.zeros_like(vs_minus_v[:1])], dim=0)
    pg_advantages = _clip(rhos, clip_pg_rho_threshold) * (rewards + discounts * vs_tp1 - values)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages)
