"""R2D3's execution plan (Paine et al. 2019): R2D2's, plus a replay of expert demonstrations the learner mixes in.

    demonstrations (Minari)  episodes cut into R2D2's sequences, each from a zero state (demonstrations carry no
      |                      recurrent state; the learner's burn-in refreshes it)
      v
    demo ReplayShard         prioritized like the agent's shards; no rate limit (it holds a fixed set)
      |  k ~ Binomial(batch_size, demo_ratio) sequences per batch -> the learner;  priorities <- the learner
      v
    QLearner                 each batch: k demonstration sequences and batch_size - k from the agent's shards
                             (DemoMixedFeed), one R2D2 loss over all, new priorities back to both replays

Everything else (workers, agent shards, weights) is R2D2's plan.
"""

from __future__ import annotations

from typing import Any

import ray

from rayrl.algorithms.r2d2.plan import R2D2Plan
from rayrl.components.replay_shard import ReplayShard
from rayrl.envs import make_env
from rayrl.replay.sequence_adder import episode_sequences


class R2D3Plan(R2D2Plan):
    def _feed_kwargs(self, frame_stack: int | None) -> dict[str, Any]:
        c = self.config
        probe = make_env(c.env, env_kwargs=c.env_kwargs, training=False)
        try:
            episodes = c.load_demos(probe.observation_space, probe.action_space)
        finally:
            probe.close()
        items = episode_sequences(episodes, sequence_length=c.sequence_length, period=c.sequence_period,
                                  frame_stack=frame_stack, state_size=c.lstm_size)
        self.num_demo_sequences = len(items["action"])
        # Twice the room: a frame ring sized for as many sequences of one stream holds fewer of many short episodes.
        self.demo_shard = ray.remote(num_cpus=0)(ReplayShard).remote(
            c.num_replay_shards, 2 * self.num_demo_sequences, priority_exponent=c.priority_exponent,
            importance_exponent=c.importance_exponent, frame_stack=frame_stack, sequence_period=c.sequence_period,
            seed=c.seed + c.num_replay_shards)
        ray.get(self.demo_shard.add.remote(items))
        return dict(demos=self.demo_shard, demo_ratio=c.demo_ratio, seed=c.seed)

    def stop(self) -> None:
        super().stop()
        ray.kill(self.demo_shard)
