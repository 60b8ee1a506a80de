"""IMPALA's execution plan (Espeholt et al. 2018).

    RolloutWorker 1..N  -- rollout refs (async, as each finishes) -->  plan queue (bounded, oldest dropped)
          ^                                                                   |
          |                                                   whole rollouts joined to batch_size
          |                                                                   v
          +---------- PublishedWeights(version, one ref) <--------------  Learner (GPU if any)
                      pulled by each worker before its next unroll          V-trace loss, RMSProp

Rollouts never pass through this process: the plan routes object refs, reads only the small episode stats, and
waits (``ray.wait``) on whichever worker or learner call finishes first, so no actor waits on the slowest one.
"""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from typing import Any

import ray

from rayrl.algorithms import actor_critic
from rayrl.algorithms.impala.config import ImpalaConfig
from rayrl.algorithms.impala.loss import impala_loss
from rayrl.components.bundles import first_worker_bundle
from rayrl.components.learner import start_learner
from rayrl.components.plan_state import LearnerPlanState
from rayrl.components.progress import Progress
from rayrl.components.worker_set import Collected, WorkerSet
from rayrl.core import PublishedWeights


class ImpalaPlan(LearnerPlanState):
    def __init__(self, config: ImpalaConfig):
        self.config = config
        self.learner = start_learner(config, model_fn=actor_critic.model_fn(config),
                                     loss_fn=functools.partial(impala_loss, config=config),
                                     **actor_critic.learner_kwargs(config))
        self.workers = WorkerSet(self._worker_kwargs, config.num_workers, max_workers=config.max_workers,
                                 num_cpus=config.worker_cpus,
                                 first_bundle=first_worker_bundle(config))
        self.rollouts_per_batch = max(1, math.ceil(config.batch_size / config.num_envs_per_worker))
        self.max_queued = 2 * self.rollouts_per_batch * max(1, config.max_updates_in_flight)
        self.queue: deque[tuple[ray.ObjectRef, int]] = deque()  # (rollout ref, its policy version)
        self.updates_in_flight: dict[ray.ObjectRef, tuple[ray.ObjectRef, int]] = {}
        self.progress = Progress()
        self.weights = PublishedWeights(0, [self.learner.get_weights.remote()])
        self.device = ray.get(self.learner.device_name.remote())
        self.rollouts_dropped = 0

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        return actor_critic.worker_kwargs(self.config, index, incarnation)

    def train_step(self) -> dict[str, float]:
        """Drive workers and learner for ``report_seconds`` (or until the first update); return metrics."""
        # The first report comes as soon as the first update is done, so a run shows life within seconds.
        deadline = time.perf_counter() + (self.config.report_seconds if self.progress.updates else 0.0)
        learner_metrics: list[dict[str, float]] = []
        lags: list[int] = []
        while time.perf_counter() < deadline or not learner_metrics:
            self.workers.submit(self.weights)
            ready, _ = ray.wait(self.workers.pending() + list(self.updates_in_flight), num_returns=1,
                                timeout=max(0.0, deadline - time.perf_counter()) or 0.5)
            for ref in ready:
                if self.workers.owns(ref):
                    self._enqueue(self.workers.collect(ref))
                else:
                    learner_metrics.append(self._finish_update(ref))
            while len(self.queue) >= self.rollouts_per_batch and (
                len(self.updates_in_flight) < self.config.max_updates_in_flight
            ):
                lags += self._submit_update()
        metrics = self.progress.report(learner_metrics, lags)
        metrics.update(self.workers.metrics(), rollouts_dropped=self.rollouts_dropped)
        return metrics

    def _enqueue(self, collected: Collected | None) -> None:
        if collected is None:  # its worker died and was replaced
            return
        self.progress.add_episodes(collected.stats)
        self.queue.append((collected.rollout, collected.stats.policy_version))
        if len(self.queue) > self.max_queued:  # the learner is behind: drop the stalest data, keep sampling
            self.queue.popleft()
            self.rollouts_dropped += 1

    def _submit_update(self) -> list[int]:
        batch = [self.queue.popleft() for _ in range(self.rollouts_per_batch)]
        metrics_ref, weights_ref = self.learner.update.options(num_returns=2).remote(
            *[ref for ref, _ in batch], return_weights=True
        )
        self.updates_in_flight[metrics_ref] = (weights_ref, len(batch))
        lag_base = self.progress.updates + len(self.updates_in_flight) - 1
        return [lag_base - version for _, version in batch]

    def _finish_update(self, metrics_ref: ray.ObjectRef) -> dict[str, float]:
        weights_ref, num_rollouts = self.updates_in_flight.pop(metrics_ref)
        metrics = ray.get(metrics_ref)
        self.progress.updates += 1
        self.progress.env_steps_trained += num_rollouts * self.config.rollout_length * self.config.num_envs_per_worker
        self.weights = PublishedWeights(self.progress.updates, [weights_ref])
        return metrics

    def stop(self) -> None:
        self.workers.stop()
        ray.kill(self.learner)

