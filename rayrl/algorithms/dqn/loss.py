"""DQN's loss: Huber loss of (double) Q-learning TD errors against a target network (Mnih et al. 2015)."""

from __future__ import annotations

import torch

from rayrl.components.learner import LossOutput
from rayrl.models.q_network import OnlineAndTarget
from rayrl.ops import (
    double_q_learning_target,
    huber_loss,
    q_learning_target,
    td_error,
    td_priorities,
)


def dqn_loss(model: OnlineAndTarget, batch: dict[str, torch.Tensor], *, double_q: bool):
    """``mean_i w_i huber(target_i - q_tm1(s_i, a_i))`` over n-step transitions ``[N]`` (see TransitionWorker).

    ``target = r_t + discount_t max_a q_target(s', a)``, or with ``double_q``
    ``r_t + discount_t q_target(s', argmax_a q_online(s', a))``. ``w_i`` are prioritized replay's
    importance weights (1 for uniform replay). The new replay priorities are ``|TD error| + eps`` ``[N]``.
    """
    q_tm1 = model.online(batch["obs"])
    with torch.no_grad():
        q_t_value = model.target(batch["next_obs"])
        if double_q:
            target = double_q_learning_target(r_t=batch["reward"], discount_t=batch["discount"],
                                              q_t_value=q_t_value, q_t_selector=model.online(batch["next_obs"]))
        else:
            target = q_learning_target(r_t=batch["reward"], discount_t=batch["discount"], q_t=q_t_value)
    td = td_error(q_tm1=q_tm1, a_tm1=batch["action"], target=target)
    loss = (batch["importance_weight"] * huber_loss(td)).mean()
    metrics = {"q_mean": q_tm1.detach().mean(), "td_error_abs": td.detach().abs().mean()}
    return LossOutput(loss, metrics, priorities=td_priorities(td_errors=td))
