"""GORILA's execution plan (Nair et al. 2015, "Massively Parallel Methods for Deep Reinforcement Learning").

    GradientWorker 1..N (bundled: one process each)
      TransitionWorker   epsilon-greedy with the Q-network it holds, n-step transitions -->  replay: local (its own
      learner            a batch from replay; DQN's (double-Q) loss on the server's          ReplayShard) or global
                         weights pulled with its last gradient, against its target network,  (shard actors that every
                         a copy of them refreshed every target_update_period versions        worker writes to and
          |  each gradient, straight to every shard                                          samples from)
          v
    ParameterServer: shards 1..S, each applies its block of every gradient as it comes, drops those more than
          |           max_staleness versions old
          +-- each shard's block after the gradient, in its answer to the worker's call: the next pull

The plan is the family's (:class:`~rayrl.components.async_plan.AsyncSGDPlan`): workers push and pull themselves and
bring the shards' answers back; a worker whose replay is still filling pushes no gradient, only reports episodes.
Replay is not checkpointed: after a restore it fills again (the server's parameters and optimizer state are
restored).
"""

from __future__ import annotations

from typing import Any

import ray

from rayrl.algorithms import q_learning
from rayrl.algorithms.gorila.config import GorilaConfig
from rayrl.components.async_plan import AsyncSGDPlan
from rayrl.components.replay_batches import ReplayBatches
from rayrl.components.replay_shard import ReplayShard


class GorilaPlan(AsyncSGDPlan):
    def __init__(self, config: GorilaConfig):
        c = self.config = config  # the shards and the workers' arguments read it before AsyncSGDPlan sets it
        network_fn, self.frame_stack = q_learning.q_network_fn(c)
        self.shards = []
        if c.replay == "global":  # before the workers start: they write to these
            S = c.num_replay_shards
            self.shards = [ray.remote(num_cpus=0)(ReplayShard).remote(
                s, c.buffer_size // S, min_size_to_sample=max(1, c.learning_starts // S),
                priority_exponent=self._priority_exponent, importance_exponent=c.importance_exponent,
                frame_stack=self.frame_stack, seed=c.seed + s) for s in range(S)]
        super().__init__(c, network_fn)

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        c = self.config
        if c.replay == "local":
            replay = dict(replay_capacity=c.buffer_size // c.num_workers,
                          learning_starts=max(1, c.learning_starts // c.num_workers),
                          priority_exponent=self._priority_exponent, importance_exponent=c.importance_exponent)
        else:
            replay = dict(shards=self.shards, shard=index % len(self.shards))
        return q_learning.worker_kwargs(c, index, incarnation, epsilon=c.epsilon_schedule(),
                                        loss_fn=c.loss_fn(),
                                        max_grad_norm=c.max_grad_norm,
                                        source_cls=ReplayBatches, batch_size=c.batch_size,
                                        target_update_period=c.target_update_period, **replay)

    @property
    def _priority_exponent(self) -> float | None:
        return self.config.priority_exponent if self.config.prioritized_replay else None

    def _metrics(self) -> dict[str, float]:
        if not self.shards:
            return {}
        return {"replay_size": sum(ray.get([shard.size.remote() for shard in self.shards]))}

    def stop(self) -> None:
        super().stop()
        for shard in self.shards:
            ray.kill(shard)
