"""A3C's and A2C's execution plan (Mnih et al. 2016): actor-learners on a sharded parameter server.

Each :class:`~rayrl.components.gradient_worker.GradientWorker` is an actor-learner: its batch source is a
:class:`~rayrl.components.rollout_worker.RolloutWorker` that runs its envs for ``t_max`` steps with the pulled
weights, and the gradient is the n-step actor-critic loss's on that rollout (exactly on-policy). A3C applies each
gradient as it arrives; A2C (``sync: true``) the mean of one per worker per round (see
:class:`~rayrl.components.async_plan.AsyncSGDPlan`).
"""

from __future__ import annotations

import functools
from typing import Any

from rayrl.algorithms import actor_critic
from rayrl.algorithms.a3c.config import A3CConfig
from rayrl.algorithms.a3c.loss import a3c_loss
from rayrl.components.async_plan import AsyncSGDPlan


class A3CPlan(AsyncSGDPlan):
    def __init__(self, config: A3CConfig):
        super().__init__(config, actor_critic.model_fn(config), lr_anneal_samples=config.lr_anneal_timesteps)

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        return actor_critic.worker_kwargs(self.config, index, incarnation, max_grad_norm=self.config.max_grad_norm,
                                          loss_fn=functools.partial(a3c_loss, config=self.config))
