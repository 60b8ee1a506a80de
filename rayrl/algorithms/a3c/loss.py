"""A3C's loss: n-step returns for the baseline, advantages ``R_t - V(x_t)`` for the policy gradient, an entropy bonus."""

from __future__ import annotations

import torch
from torch import nn

from rayrl.algorithms.a3c.config import A3CConfig
from rayrl.algorithms.actor_critic import combine_losses, evaluate_rollout
from rayrl.components.learner import LossOutput
from rayrl.ops import baseline_loss, discounted_returns, entropy_loss, policy_gradient_loss


def a3c_loss(model: nn.Module, batch: dict[str, torch.Tensor], config: A3CConfig) -> LossOutput:
    """Mnih et al. 2016, Algorithm S3: ``pg + baseline_cost * baseline + entropy_cost * entropy``, summed over [T, B].

    Every step of a ``t_max`` unroll bootstraps from ``V(x_T)``: ``R_t = r_t + gamma R_{t+1}``, ``R_T = V(x_T)``;
    only termination ends the return, and at a time-limit cut it bootstraps from the final observation's value.
    The rollout is on-policy (sampled by the weights the gradient is taken on), so no importance weights.
    """
    T, B = batch["reward"].shape
    params, values, final_values = evaluate_rollout(model, batch)
    dist = model.distribution
    returns = discounted_returns(r_t=batch["reward"] * config.reward_scale,
                                 discount_t=(~batch["terminated"]).float() * config.gamma,
                                 bootstrap_value=values[-1].detach(), truncated_t=batch["truncated"],
                                 v_final_t=final_values.detach())
    log_probs = dist.log_prob(params, batch["action"])
    pg = policy_gradient_loss(log_probs=log_probs, advantages=returns - values[:-1].detach())
    baseline = baseline_loss(targets=returns, values=values[:-1])
    entropy = entropy_loss(entropy=dist.entropy(params))
    return combine_losses(config, T * B, pg=pg, baseline=baseline, entropy=entropy)
