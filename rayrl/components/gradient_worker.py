"""The gradient worker: a learner's copy of the network that computes gradients where its batches are made.

A3C (Mnih et al. 2016, Algorithm S3): each actor-learner syncs its copy of the network with the shared parameters,
runs its envs for ``t_max`` steps, computes the n-step actor-critic gradient there and sends it to be applied to the
shared parameters. GORILA (Nair et al. 2015): each learner samples replay and computes the DQN gradient against a
target network. Both are this worker with another batch source: the source pulls the published weights into its
network and makes a batch (a fresh rollout, a replay sample); the gradients are taken on that same network, so
they are stamped with exactly the version they were computed from, and applied by the parameter server.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from rayrl.components.learner import LossFn, backward, gradients_of
from rayrl.components.rollout_worker import RolloutWorker
from rayrl.core import BatchSource, EpisodeStats, Gradients, PublishedWeights

MAX_PUSHES_IN_FLIGHT = 2
"""A worker's gradients sent and not yet answered: beyond it, the worker waits, so a slow server holds it back."""


class GradientWorker:
    """``compute_gradients(weights)``: pull ``weights`` if newer and due, make one batch, return its gradients;
    ``run(link)``: pull from the server's shards, compute and push gradients to them for a while (A3C, GORILA).

    Args:
        loss_fn: the algorithm's loss on one batch, as for :class:`~rayrl.components.learner.Learner`.
        max_grad_norm: the global norm each gradient is clipped to before it leaves the worker.
        source_cls: the :class:`BatchSource` (A3C: :class:`RolloutWorker`); ``source_kwargs`` are its arguments.
    """

    def __init__(self, *, loss_fn: LossFn, max_grad_norm: float, source_cls: type = RolloutWorker,
                 **source_kwargs: Any):
        self.source: BatchSource = source_cls(**source_kwargs)
        self.loss_fn = loss_fn
        self.max_grad_norm = max_grad_norm

    def compute_gradients(self, weights: PublishedWeights | None = None) -> tuple[Gradients | None, EpisodeStats]:
        """The clipped gradients of one batch, stamped with the version of the weights they were taken on (None if
        the source had no batch: then the stats carry no metrics), and the episodes the source finished, with the
        loss's metrics."""
        batch, stats = self.source.sample(weights)
        if batch is None:
            return None, stats
        model = self.source.model
        metrics, priorities = backward(model, self.loss_fn, batch, max_grad_norm=self.max_grad_norm, device="cpu")
        if priorities is not None:  # a replay batch's new priorities
            self.source.update_priorities(priorities.numpy())
        gradients = Gradients(gradients_of(model), stats.policy_version, int(batch["reward"].size))
        return gradients, dataclasses.replace(stats, metrics=metrics)

    def run(self, link: Any) -> tuple[list[Any], EpisodeStats]:
        """Compute gradients and send them straight to the server's shards for ``link.seconds`` (a
        :class:`~rayrl.components.parameter_server.ServerLink`), each with a pull of the weights after it every
        ``link.pull_period`` gradients, at most ``MAX_PUSHES_IN_FLIGHT`` unanswered. Returns shard 0's
        :class:`~rayrl.components.parameter_server.Applied` answers and the call's episodes, env steps and mean
        loss metrics."""
        import ray

        deadline = time.monotonic() + link.seconds
        in_flight, answers, stats = [], [], []
        _, weights = link.exchange(None, None, pull=True)
        versions, since_pull = None, 0
        while not stats or time.monotonic() < deadline:
            gradients, step_stats = self.compute_gradients(weights)
            stats.append(step_stats)
            if weights is not None and step_stats.policy_version == weights.version:  # the source loaded them
                versions = weights.versions
            since_pull = 0 if weights is not None else since_pull + 1
            pull = gradients is None or since_pull + 1 >= link.pull_period
            answer, weights = link.exchange(gradients, versions, pull=pull)
            if gradients is not None:
                in_flight.append(answer)
            if len(in_flight) > MAX_PUSHES_IN_FLIGHT:
                answers.append(ray.get(in_flight.pop(0)))
        return answers + ray.get(in_flight), merge_stats(stats)


def merge_stats(stats: list[EpisodeStats]) -> EpisodeStats:
    """One call's episodes and env steps, its last policy version and the mean of each loss metric."""
    metrics = [s.metrics for s in stats if s.metrics]
    return EpisodeStats(np.concatenate([s.returns for s in stats]), np.concatenate([s.lengths for s in stats]),
                        sum(s.env_steps for s in stats), stats[-1].policy_version,
                        {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]} if metrics else {})
