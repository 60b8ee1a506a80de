"""The gradient worker: A3C's actor-learner, which computes gradients on its own fresh rollouts.

Mnih et al. 2016, Algorithm S3: each actor-learner syncs its copy of the network with the shared parameters, runs
its envs for ``t_max`` steps, computes the n-step actor-critic gradient there and sends it to be applied to the
shared parameters. Here the worker's :class:`RolloutWorker` pulls the published weights into its network and
samples; the gradients are then taken on that same network, so they are exactly on-policy, and applied by the
parameter server.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rayrl.components.learner import LossFn, backward, gradients_of
from rayrl.components.rollout_worker import RolloutWorker
from rayrl.core import EpisodeStats, Gradients, PublishedWeights


class GradientWorker:
    """``compute_gradients(weights)``: pull ``weights`` if newer and due, sample one rollout, return its gradients.

    Args:
        loss_fn: the algorithm's loss on one rollout, as for :class:`~rayrl.components.learner.Learner`.
        max_grad_norm: the global norm each gradient is clipped to before it leaves the worker.
        rollout_kwargs: :class:`RolloutWorker`'s arguments (env, num_envs, rollout_length, seed, hidden_sizes, ...).
    """

    def __init__(self, *, loss_fn: LossFn, max_grad_norm: float, **rollout_kwargs: Any):
        self.rollouts = RolloutWorker(**rollout_kwargs)
        self.loss_fn = loss_fn
        self.max_grad_norm = max_grad_norm

    def compute_gradients(self, weights: PublishedWeights | None = None) -> tuple[Gradients, EpisodeStats]:
        """The clipped gradients of one fresh rollout, stamped with the version of the weights that sampled it, and
        the rollout's episodes with the loss's metrics."""
        rollout, stats = self.rollouts.sample(weights)
        model = self.rollouts.model
        metrics, _ = backward(model, self.loss_fn, rollout, max_grad_norm=self.max_grad_norm, device="cpu")
        gradients = Gradients(gradients_of(model), stats.policy_version, stats.env_steps)
        return gradients, dataclasses.replace(stats, metrics=metrics)
