"""DQN's execution plan (Mnih et al. 2015), with prioritized replay (Schaul et al. 2016) as an option.

    TransitionWorker 1..N  -- n-step transitions (refs; never through this process) -->  ReplayShard
      epsilon-greedy                                                                   |  ^
          ^                                                         sample(batch_size) |  | update_priorities
          |                                                                            v  |
          +-------- PublishedWeights(version, one ref) <-------------------  QLearner (GPU if any)
                    pulled by each worker before its next call                online + target network

The plan holds actors and learner to ``samples_per_insert`` (replayed transitions per env step): an update is sent
only when the env steps collected allow it, and workers get new sample requests only while they are less than
one round of calls ahead of the learner. The learner is kept busy: up to ``max_updates_in_flight`` updates are
queued on it, each sent with its own replay sample request, so Ray fetches the next batch while one trains and the
next update starts as soon as one ends, without a round trip through this process. The replay shard reserves no
CPU: its numpy work per call is small. On frame-stacked envs (Atari) workers send frame chunks and the shard stores
each frame once (``frame_stack``; :class:`~rayrl.replay.FrameStackStorage`), about 7 KB a Pong transition.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from rayrl.algorithms import q_learning
from rayrl.algorithms.dqn.config import DQNConfig
from rayrl.components.bundles import first_worker_bundle
from rayrl.components.plan_state import LearnerPlanState
from rayrl.components.progress import Progress
from rayrl.components.replay_shard import ReplayShard, surface_errors
from rayrl.components.transition_worker import TransitionWorker
from rayrl.components.worker_set import Collected, WorkerSet
from rayrl.core import PublishedWeights


class DQNPlan(LearnerPlanState):
    def __init__(self, config: DQNConfig):
        self.config = config
        self.learner, frame_stack = q_learning.start_learner(config)
        self.replay = ray.remote(num_cpus=0)(ReplayShard).remote(
            0, config.buffer_size,
            priority_exponent=config.priority_exponent if config.prioritized_replay else None,
            importance_exponent=config.importance_exponent, frame_stack=frame_stack, seed=config.seed,
        )
        self.workers = WorkerSet(self._worker_kwargs, config.num_workers, max_workers=config.max_workers,
                                 worker_cls=TransitionWorker, depth=1, num_cpus=config.worker_cpus,
                                 first_bundle=first_worker_bundle(config))
        self.steps_per_call = config.rollout_length * config.num_envs_per_worker
        self.progress = Progress()
        self.env_steps_here = 0  # since this plan started: the replay starts empty, even after a restore
        self.updates_here = 0
        self.updates_in_flight: dict[ray.ObjectRef, tuple[ray.ObjectRef, ray.ObjectRef]] = {}
        self._adds: list[ray.ObjectRef] = []  # replay inserts not yet checked
        self.weights = PublishedWeights(0, [self.learner.get_weights.remote()])
        self.device = ray.get(self.learner.device_name.remote())

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        c = self.config
        return q_learning.worker_kwargs(c, index, incarnation, epsilon=c.epsilon_schedule())

    def _updates_allowed(self) -> int:
        """Updates the env steps collected so far pay for at ``samples_per_insert``."""
        steps = self.env_steps_here - self.config.learning_starts
        return int(steps * self.config.samples_per_insert / self.config.batch_size) + 1 if steps >= 0 else 0

    def _worker_calls_allowed(self) -> int:
        """New sample calls: none while the env steps run more than one round of calls ahead of the updates."""
        if self._updates_allowed() == 0:
            return self.config.num_workers
        ahead = (self._updates_allowed() - self.updates_here) * self.config.batch_size / self.config.samples_per_insert
        return self.config.num_workers if ahead < self.steps_per_call * self.config.num_workers else 0

    def train_step(self) -> dict[str, float]:
        """Drive workers, replay and learner for ``report_seconds`` (the first report: until a worker's first
        sample is in); return metrics (while the replay fills to ``learning_starts``, the env steps alone)."""
        deadline = time.perf_counter() + (self.config.report_seconds if self.progress.env_steps else 0.0)
        learner_metrics: list[dict[str, float]] = []
        while time.perf_counter() < deadline or not self.progress.env_steps:
            self.workers.submit(self.weights, limit=self._worker_calls_allowed())
            while (len(self.updates_in_flight) < self.config.max_updates_in_flight
                   and self.updates_here + len(self.updates_in_flight) < self._updates_allowed()):
                self._submit_update()
            ready, _ = ray.wait(self.workers.pending() + list(self.updates_in_flight), num_returns=1,
                                timeout=max(0.0, deadline - time.perf_counter()) or 0.5)
            for ref in ready:
                if self.workers.owns(ref):
                    self._insert(self.workers.collect(ref))
                else:
                    learner_metrics.append(self._finish_update(ref))
        self._adds = surface_errors(self._adds)
        metrics = self.progress.report(learner_metrics)
        metrics.update(self.workers.metrics(), replay_size=ray.get(self.replay.size.remote()))
        return metrics

    def _insert(self, collected: Collected | None) -> None:
        if collected is None:  # its worker died and was replaced
            return
        self.progress.add_episodes(collected.stats)
        self.env_steps_here += collected.stats.env_steps
        # Actor calls run in order: later samples see these transitions.
        self._adds.append(self.replay.add.remote(collected.rollout))

    def _submit_update(self) -> None:
        sample_ref = self.replay.sample.remote(self.config.batch_size, self.progress.updates)
        metrics_ref, weights_ref, priorities_ref = self.learner.update_from_replay.options(num_returns=3).remote(
            sample_ref)
        self.updates_in_flight[metrics_ref] = (weights_ref, priorities_ref)

    def _finish_update(self, metrics_ref: ray.ObjectRef) -> dict[str, float]:
        weights_ref, priorities_ref = self.updates_in_flight.pop(metrics_ref)
        if self.config.prioritized_replay:
            metrics, (_, indices, keys, priorities) = ray.get([metrics_ref, priorities_ref])  # one round trip
            self.replay.update_priorities.remote(indices, keys, priorities)
        else:
            metrics = ray.get(metrics_ref)
        self.updates_here += 1
        self.progress.updates += 1
        self.progress.env_steps_trained += self.config.batch_size
        self.weights = PublishedWeights(self.progress.updates, [weights_ref])
        return metrics

    def stop(self) -> None:
        self.workers.stop()
        ray.kill(self.replay)
        ray.kill(self.learner)
