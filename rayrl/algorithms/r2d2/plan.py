"""R2D2's execution plan (Kapturowski et al. 2019): Ape-X's topology with a recurrent network and sequence replay.

    SequenceWorker 1..N      epsilon_i per env stream; own copy of the LSTM Q-network, its state carried across
      |                      steps and reset where an episode starts
      |  sequences of sequence_length steps every sequence_period steps, with the state at their start (Atari:
      v  each frame stored once), as refs: worker -> shard.add; each worker keeps to one shard
    ReplayShard 1..S         prioritized sequences (alpha 0.9, beta 0.6), a rate limiter holding samples_per_insert
      |  sample(batch_size) -> the learner;  update_priorities <- the learner (eta max + (1 - eta) mean |delta|)
      v
    QLearner (GPU if any)    burn-in from the stored state without gradient, then n-step double-Q targets under
      |                      value rescaling; online + target network
      +-> PublishedWeights after every weights_publish_period updates, pulled by each worker every
          pull_period_steps env steps

Everything but the workers, the shards' storage and rate limit, the network and the loss is Ape-X's plan
(:class:`~rayrl.algorithms.apex.plan.ApexPlan`). With ``samples_per_insert`` set, a shard refuses a learner's
sample that would run ahead of the ratio (the learner's feed asks again shortly) and an actor's insert that would
fall behind it (the sequences are dropped; actors act on).
"""

from __future__ import annotations

from typing import Any

from rayrl.algorithms.apex.plan import ApexPlan
from rayrl.components.sequence_worker import SequenceWorker

RATE_LIMIT_SLACK_BATCHES = 4
"""How far, in learner batches, sampling may run ahead of or behind the replay ratio on a shard."""


class R2D2Plan(ApexPlan):
    worker_cls = SequenceWorker
    worker_extras: dict[str, Any] = {}  # new sequences enter replay at the largest priority seen so far

    def _shard_kwargs(self) -> dict[str, Any]:
        c = self.config
        limit = {} if c.samples_per_insert is None else dict(
            samples_per_insert=c.samples_per_insert, error_buffer=RATE_LIMIT_SLACK_BATCHES * c.batch_size)
        return dict(sequence_period=c.sequence_period, **limit)
