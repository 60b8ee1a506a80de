"""Ape-X's execution plan (Horgan et al. 2018, "Distributed Prioritized Experience Replay").

    TransitionWorker 1..N     epsilon_i per env stream; own copy of the Q-network, no target network
      |  n-step transitions (Atari: frame chunks) + initial priorities, as refs: worker -> shard.add, never
      v  read by this process; each worker keeps to one shard (shard_of)
    ReplayShard 1..S          prioritized (alpha, beta); Atari frames stored once each; no CPU reserved
      |  sample(batch_size) -> the learner;  update_priorities <- the learner
      v
    QLearner (GPU if any)     samples the shards itself: samples_in_flight_per_shard requests outstanding on every
      |                       shard, the first ready batch trained on, its priorities sent straight back to its shard
      |                       (ReplayFeed); double-Q n-step loss, online + target network
      +-> PublishedWeights(version, one ref) after every weights_publish_period updates, pulled by each worker every
          pull_period_steps env steps

Unlike DQN's plan, nothing holds actors and learner to a replay ratio: as in the paper, each side runs as fast as
it can and the replay's capacity bounds memory. A shard refuses samples until it holds its share of
``learning_starts``; the learner's feed then asks the other shards and comes back to it later. Batches and
priorities never pass through this process: per learner call it reads the mean metrics and the number of updates,
and publishes the weights ref. A learner call ends after ``report_seconds`` at most, updates or not, so a checkpoint
never waits on a replay that is still filling.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import ray

from rayrl.algorithms import q_learning
from rayrl.algorithms.apex.config import ApexConfig, actor_epsilons
from rayrl.components.bundles import first_worker_bundle
from rayrl.components.plan_state import LearnerPlanState
from rayrl.components.progress import Progress
from rayrl.components.replay_shard import ReplayShard, surface_errors
from rayrl.components.transition_worker import TransitionWorker
from rayrl.components.worker_set import Collected, WorkerSet
from rayrl.core import PublishedWeights

OUTPUTS_PER_TURN = 16
"""Consecutive outputs a worker sends to one shard before it moves to its next, when it feeds several."""


def shard_of(rank: int, turn: int, *, num_workers: int, num_shards: int) -> int:
    """The shard that the worker of ``rank`` (0 to ``num_workers - 1``) sends its ``turn``-th output to.

    A worker keeps to shard ``rank % num_shards``, so its frame chunks continue one another there and cost about a
    frame per transition (a chunk that continues nothing costs its C + n overlap frames again). With fewer workers
    than shards, worker r feeds shards r, r + W, r + 2W, ... in turns of ``OUTPUTS_PER_TURN`` outputs, so every
    shard gets data and only the first chunk of a turn pays its overlap frames again (under 1% at 50-step chunks).
    """
    stride = min(num_workers, num_shards)
    own = range(rank % stride, num_shards, stride)
    return own[turn // OUTPUTS_PER_TURN % len(own)]


class ApexPlan(LearnerPlanState):
    worker_cls: type = TransitionWorker
    worker_extras: dict[str, Any] = {"initial_priorities": True}
    """The workers' arguments beyond the family's: Ape-X's actors compute their transitions' initial priorities."""

    def __init__(self, config: ApexConfig):
        c = self.config = config
        self.learner, frame_stack = q_learning.start_learner(c)  # frame_stack: Atari frames are stored once
        S = c.num_replay_shards
        self.shards = [
            ray.remote(num_cpus=0)(ReplayShard).remote(
                s, c.buffer_size // S, priority_exponent=c.priority_exponent,
                importance_exponent=c.importance_exponent, min_size_to_sample=max(1, c.learning_starts // S),
                frame_stack=frame_stack, seed=c.seed + s, **self._shard_kwargs())
            for s in range(S)
        ]
        self.epsilons = actor_epsilons(max(c.num_workers, c.max_workers) * c.num_envs_per_worker,
                                       base=c.epsilon_base, alpha=c.epsilon_alpha)
        self.workers = WorkerSet(self._worker_kwargs, c.num_workers, max_workers=c.max_workers,
                                 worker_cls=self.worker_cls, num_cpus=c.worker_cpus,
                                 first_bundle=first_worker_bundle(c))
        ray.get(self.learner.connect_replay.remote(self.shards, batch_size=c.batch_size,
                                                   in_flight_per_shard=c.samples_in_flight_per_shard,
                                                   **self._feed_kwargs(frame_stack)))
        self.progress = Progress()
        self._outputs: Counter[int] = Counter()  # outputs inserted, per worker index
        self._learner_calls: dict[ray.ObjectRef, list[ray.ObjectRef]] = {}  # metrics ref -> [updates, weights] refs
        self._adds: list[ray.ObjectRef] = []  # shard inserts not yet checked
        self.weights = PublishedWeights(0, [self.learner.get_weights.remote()])
        self.device = ray.get(self.learner.device_name.remote())

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        c = self.config
        B = c.num_envs_per_worker
        # Each env stream is one of the paper's actors; indices of elastic workers past the last one wrap around.
        first = index * B % len(self.epsilons)
        return q_learning.worker_kwargs(c, index, incarnation, epsilon=tuple(self.epsilons[first:first + B]),
                                        pull_period_steps=c.pull_period_steps, **self.worker_extras)

    def _shard_kwargs(self) -> dict[str, Any]:
        """The shards' arguments beyond Ape-X's (none: no rate limit, transitions or frame chunks stored)."""
        return {}

    def _feed_kwargs(self, frame_stack: int | None) -> dict[str, Any]:
        """The learner's replay feed's arguments beyond the shards (none: batches from the shards alone)."""
        return {}

    def train_step(self) -> dict[str, float]:
        """Drive workers and learner for ``report_seconds`` (the first report: until a worker's first sample is in);
        return metrics.

        Reports do not wait for the learner: while the replay fills, or while a slow (CPU) learner is inside a
        call, a report shows the env steps alone.
        """
        deadline = time.perf_counter() + (self.config.report_seconds if self.progress.env_steps else 0.0)
        learner_metrics: list[dict[str, float]] = []
        lags: list[int] = []
        while time.perf_counter() < deadline or not self.progress.env_steps:
            self.workers.submit(self.weights)
            while len(self._learner_calls) < 2:  # one running, one queued: the learner never waits on this loop
                metrics_ref, *rest = self.learner.train_from_replay.options(num_returns=3).remote(
                    self.config.weights_publish_period, self.config.report_seconds)
                self._learner_calls[metrics_ref] = rest
            ready, _ = ray.wait(self.workers.pending() + list(self._learner_calls), num_returns=1,
                                timeout=max(0.0, deadline - time.perf_counter()) or 0.5)
            for ref in ready:
                if self.workers.owns(ref):
                    self._insert(self.workers.collect(ref), lags)
                elif metrics := self._finish_learner_call(ref):  # empty when the call made no update
                    learner_metrics.append(metrics)
        self._adds = surface_errors(self._adds)
        metrics = self.progress.report(learner_metrics, lags)
        metrics.update(self.workers.metrics(),
                       replay_size=sum(ray.get([shard.size.remote() for shard in self.shards])))
        return metrics

    def _insert(self, collected: Collected | None, lags: list[int]) -> None:
        if collected is None:  # its worker died and was replaced
            return
        self.progress.add_episodes(collected.stats)
        lags.append(self.progress.updates - collected.stats.policy_version)
        workers = sorted(self.workers.actors)  # ranks, not indices: elastic workers leave gaps in the indices
        shard = shard_of(workers.index(collected.worker), self._outputs[collected.worker],
                         num_workers=len(workers), num_shards=self.config.num_replay_shards)
        self._outputs[collected.worker] += 1
        self._adds.append(self.shards[shard].add.remote(collected.rollout))

    def _finish_learner_call(self, metrics_ref: ray.ObjectRef) -> dict[str, float]:
        updates_ref, weights_ref = self._learner_calls.pop(metrics_ref)
        metrics, updates = ray.get([metrics_ref, updates_ref])
        if updates:
            self.progress.updates += updates
            self.progress.env_steps_trained += updates * self.config.batch_size
            self.weights = PublishedWeights(self.progress.updates, [weights_ref])
        return metrics

    def stop(self) -> None:
        self.workers.stop()
        for shard in self.shards:
            ray.kill(shard)
        ray.kill(self.learner)
