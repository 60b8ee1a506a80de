"""The learner's side of sharded replay: sample requests kept in flight on every shard, batches taken as they come.

Ape-X's learner (Horgan et al. 2018, sec. 3) samples from replay with prefetching and sends each batch's new
priorities back to the shard it came from. Run inside the learner actor, batches travel shard -> learner and
priorities learner -> shard directly, without a round trip through the plan for every update. R2D3 mixes a
demonstration shard into every batch (:class:`DemoMixedFeed`).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Sequence

import numpy as np
import ray

from rayrl.core import Batch


class ReplayFeed:
    """Keeps ``in_flight_per_shard`` sample requests outstanding on each :class:`ReplayShard` actor.

    A shard that refuses a sample (below its minimum size, or held back by its rate limiter) is asked again after
    ``retry_seconds``, so an empty shard never stalls the others and is not polled in a busy loop.
    """

    def __init__(self, shards: Sequence[Any], *, batch_size: int, in_flight_per_shard: int = 2,
                 retry_seconds: float = 0.05):
        self.shards = list(shards)
        self.batch_size = batch_size
        self.in_flight_per_shard = in_flight_per_shard
        self.retry_seconds = retry_seconds
        self._requests: dict[ray.ObjectRef, int] = {}  # sample ref -> its shard
        self._in_flight = [0] * len(self.shards)
        self._retry_at = [0.0] * len(self.shards)
        self.refusals = 0

    def next(self, learner_step: int, *, deadline: float = math.inf) -> tuple[int, Batch] | None:
        """The first ready batch from any shard: ``(shard_id, batch with weights, indices and keys)``; None if
        none came by ``deadline`` (``time.monotonic()`` seconds), say while every shard is still filling."""
        while time.monotonic() < deadline:
            self._request(learner_step)
            if not self._requests:  # every shard refused lately: wait for the first retry
                time.sleep(max(0.0, min(min(self._retry_at), deadline) - time.monotonic()))
                continue
            ready, _ = ray.wait(list(self._requests), num_returns=1,
                                timeout=None if deadline == math.inf else max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            shard = self._requests.pop(ready[0])
            self._in_flight[shard] -= 1
            sample = ray.get(ready[0])
            if sample is not None:  # the shard's place in this feed's list is the id its priorities go back to
                return shard, sample[1]
            self.refusals += 1
            self._retry_at[shard] = time.monotonic() + self.retry_seconds
        return None

    def update_priorities(self, shard_id: int, indices, keys, priorities) -> None:
        """Send a batch's new priorities to its shard; the shard drops those of items overwritten since."""
        self.shards[shard_id].update_priorities.remote(indices, keys, priorities)

    def _request(self, learner_step: int) -> None:
        now = time.monotonic()
        for shard, actor in enumerate(self.shards):
            if self._retry_at[shard] > now:
                continue
            while self._in_flight[shard] < self.in_flight_per_shard:
                self._requests[actor.sample.remote(self.batch_size, learner_step)] = shard
                self._in_flight[shard] += 1


class DemoMixedFeed:
    """R2D3's batches (Paine et al. 2019, sec. 3): each element drawn from the demonstrations' replay with
    probability ``demo_ratio``, otherwise from the agent's (a :class:`ReplayFeed`).

    A batch takes ``k ~ Binomial(batch_size, demo_ratio)`` demonstration sequences in place of as many of the agent
    batch's, sampled from the demonstration shard by their own priorities (the request for the next batch's are
    kept in flight); the learner's new priorities go back to both replays, each to its own items. ``next`` hands
    out a token in place of a shard id, which :meth:`update_priorities` takes back.
    """

    def __init__(self, feed: ReplayFeed, demos: Any, *, demo_ratio: float, seed: int):
        self.feed = feed
        self.demos = demos
        self.demo_ratio = demo_ratio
        self._rng = np.random.default_rng(seed)
        self._tokens = itertools.count()
        self._mixed: dict[int, tuple[int, int]] = {}  # token -> (agent shard, demonstration rows at the end)
        self._next_demos = self._request(0)

    def next(self, learner_step: int, *, deadline: float = math.inf) -> tuple[int, Batch] | None:
        sample = self.feed.next(learner_step, deadline=deadline)
        if sample is None:
            return None
        shard, batch = sample
        num_demos, request = self._next_demos
        self._next_demos = self._request(learner_step)
        if num_demos:
            _, demos = ray.get(request)
            kept = len(batch["indices"]) - num_demos
            batch = {name: np.concatenate([value[:kept], demos[name]]) for name, value in batch.items()}
        token = next(self._tokens)
        self._mixed[token] = (shard, num_demos)
        return token, batch

    def update_priorities(self, token: int, indices, keys, priorities) -> None:
        """The batch's new priorities: the agent's rows to their shard, the demonstrations' to theirs."""
        shard, num_demos = self._mixed.pop(token)
        kept = len(indices) - num_demos
        self.feed.update_priorities(shard, indices[:kept], keys[:kept], priorities[:kept])
        if num_demos:
            self.demos.update_priorities.remote(indices[kept:], keys[kept:], priorities[kept:])

    def _request(self, learner_step: int) -> tuple[int, ray.ObjectRef | None]:
        num_demos = int(self._rng.binomial(self.feed.batch_size, self.demo_ratio))
        return num_demos, self.demos.sample.remote(num_demos, learner_step) if num_demos else None
