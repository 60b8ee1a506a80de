"""The learner of value-based methods (DQN, Ape-X, GORILA, R2D2): online and target networks, replay priorities."""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np

from rayrl.components.learner import Learner
from rayrl.components.replay_feed import DemoMixedFeed, ReplayFeed
from rayrl.core import Batch, Weights


class QLearner(Learner):
    """A :class:`Learner` of an :class:`OnlineAndTarget` model that trains on replay samples.

    Each update copies the online network into the target every ``target_update_period`` updates, and returns
    the new priorities with the ids the replay needs to apply them. Workers get the online network only.

    Two ways to feed it: a plan hands it one sample per call (``update_from_replay``, DQN), or it samples the
    shards itself (``connect_replay`` then ``train_from_replay``, Ape-X's learner with prefetching).
    """

    def __init__(self, *, target_update_period: int, **kwargs):
        super().__init__(batch_axis=0, **kwargs)
        self.target_update_period = target_update_period
        self.feed: ReplayFeed | DemoMixedFeed | None = None

    def update_from_replay(self, sample: tuple[int, Batch] | None):
        """``(metrics, weights, (shard_id, indices, keys, priorities))`` for a :class:`ReplayShard` sample."""
        if sample is None:
            raise RuntimeError("the replay refused a sample the plan's rate control allowed")
        metrics, new_priorities = self._replay_update(sample)
        return metrics, self.get_weights(), new_priorities

    def connect_replay(self, shards: Sequence[Any], *, batch_size: int, in_flight_per_shard: int,
                       demos: Any | None = None, demo_ratio: float = 0.0, seed: int = 0) -> None:
        """Sample these :class:`ReplayShard` actors from now on (see :class:`ReplayFeed`), and with ``demos`` (a
        shard of demonstrations) each batch element from it with probability ``demo_ratio`` (R2D3,
        :class:`DemoMixedFeed`)."""
        self.feed = ReplayFeed(shards, batch_size=batch_size, in_flight_per_shard=in_flight_per_shard)
        if demos is not None:
            self.feed = DemoMixedFeed(self.feed, demos, demo_ratio=demo_ratio, seed=seed)

    def train_from_replay(self, num_updates: int, max_seconds: float = math.inf):
        """Up to ``num_updates`` updates on batches from the connected shards, each batch's priorities sent back to
        its shard; the call ends early after ``max_seconds``, so a plan's next call (a checkpoint's ``get_state``)
        never waits on a replay that is still filling. Returns ``(metrics, updates, weights)``: the updates' mean
        metrics (empty if none), their number, and the weights after them (published once per call)."""
        deadline = time.monotonic() + max_seconds
        history = []
        while len(history) < num_updates:
            sample = self.feed.next(self.version, deadline=deadline)
            if sample is None:
                break
            metrics, (shard_id, *new_priorities) = self._replay_update(sample)
            self.feed.update_priorities(shard_id, *new_priorities)
            history.append(metrics)
            if time.monotonic() >= deadline:
                break
        keys = history[0].keys() if history else ()
        return {key: float(np.mean([m[key] for m in history])) for key in keys}, len(history), self.get_weights()

    def _replay_update(self, sample: tuple[int, Batch]):
        shard_id, batch = sample
        ids = {name: batch.pop(name) for name in ("indices", "keys")}
        metrics, priorities = self._update([batch])
        if self.version % self.target_update_period == 0:
            self.model.sync_target()
        return metrics, (shard_id, ids["indices"], ids["keys"], priorities.cpu().numpy())

    def get_weights(self) -> Weights:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.model.online.state_dict().items()}
