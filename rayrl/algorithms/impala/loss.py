"""IMPALA's loss: V-trace targets for the baseline, V-trace advantages for the policy gradient, an entropy bonus."""

from __future__ import annotations

import torch
from torch import nn

from rayrl.algorithms.actor_critic import combine_losses, evaluate_rollout
from rayrl.algorithms.impala.config import ImpalaConfig
from rayrl.components.learner import LossOutput
from rayrl.ops import baseline_loss, entropy_loss, policy_gradient_loss, vtrace


def impala_loss(model: nn.Module, batch: dict[str, torch.Tensor], config: ImpalaConfig) -> LossOutput:
    """Espeholt et al. 2018, section 4: ``pg + baseline_cost * baseline + entropy_cost * entropy``, summed over [T, B].

    ``batch`` is a time-major rollout (see ``rayrl.core``): obs ``[T + 1, B, ...]``, the rest ``[T, B, ...]``.
    Only termination ends the return; at a time-limit cut V-trace bootstraps from the final observation's value.
    """
    T, B = batch["reward"].shape
    params, values, final_values = evaluate_rollout(model, batch)
    dist = model.distribution
    target_log_probs = dist.log_prob(params, batch["action"])
    behaviour_log_probs = dist.log_prob(batch["behaviour"], batch["action"])
    discounts = (~batch["terminated"]).float() * config.gamma
    targets = vtrace(
        log_rhos=target_log_probs.detach() - behaviour_log_probs,
        discounts=discounts,
        rewards=batch["reward"] * config.reward_scale,
        values=values[:-1].detach(),
        bootstrap_value=values[-1].detach(),
        truncated=batch["truncated"],
        final_values=final_values.detach(),
        clip_rho_threshold=config.clip_rho_threshold,
        clip_pg_rho_threshold=config.clip_pg_rho_threshold,
        clip_c_threshold=config.clip_c_threshold,
    )
    pg = policy_gradient_loss(log_probs=target_log_probs, advantages=targets.pg_advantages)
    baseline = baseline_loss(targets=targets.vs, values=values[:-1])
    entropy = entropy_loss(entropy=dist.entropy(params))
    mean_rho = target_log_probs.detach().sub(behaviour_log_probs).exp().mean()
    return combine_losses(config, T * B, pg=pg, baseline=baseline, entropy=entropy, mean_rho=mean_rho)
