"""A replay shard: one :class:`~rayrl.replay.ReplayBuffer` behind the calls a Ray actor answers.

Ape-X (Horgan et al. 2018, sec. 3) splits its replay into shards that actors write to and a learner samples from
concurrently; DQN (Mnih et al. 2015) is the one-shard case, and R2D2 (Kapturowski et al. 2019) shards its replay of
sequences the same way. A plan makes the actor with
``ray.remote(ReplayShard).options(...).remote(shard_id, capacity, ...)``.

Every call is a query that answers at once, never a wait (the buffer's rate limiter is polled, as in Reverb,
Cassirer et al. 2021): ``add`` returns False when the limiter holds inserts back, and ``sample`` returns None when
it holds samples back, so neither side blocks the shard and the caller decides whether to retry or go elsewhere.
A sample carries ``indices`` and ``keys``; hand them back to ``update_priorities`` with the new priorities, and
updates for items overwritten since they were sampled are dropped (the storage's keys tell them apart).
"""

from __future__ import annotations

from rayrl.core import Batch
from rayrl.replay import (
    FrameStackStorage,
    LinearSchedule,
    PrioritizedSampler,
    RateLimiter,
    ReplayBuffer,
    RingStorage,
    SequenceStorage,
    uniform_sampler,
)


class ReplayShard:
    """A uniform or prioritized replay buffer with a rate limiter, addressed by ``shard_id``.

    Args:
        shard_id: returned with each sample, so the learner knows where to send the new priorities.
        capacity: items (transitions, or sequences) held; the oldest are overwritten first.
        priority_exponent: alpha of proportional prioritized replay (Schaul et al. 2016; Ape-X 0.6, R2D2 0.9);
            None for uniform replay.
        importance_exponent: beta, a constant or a schedule over the ``learner_step`` passed to ``sample``.
        min_size_to_sample: items stored before sampling may start (DQN's "learning starts").
        samples_per_insert: if set, sampled items per inserted item are held near this ratio, within
            ``error_buffer`` items either way (so actors and learner cannot run away from each other).
        error_buffer: the slack of that ratio; larger than the largest batch of inserts or samples.
        frame_stack: stack depth S to store Atari frames once per transition (:class:`FrameStackStorage`);
            None stores any dict of arrays whole (:class:`RingStorage`).
        sequence_period: the items are R2D2 sequences (:class:`~rayrl.replay.SequenceAdder`) whose starts are
            this many steps apart: with ``frame_stack``, their overlapping frames are stored once
            (:class:`SequenceStorage`); without, they are stored whole. None: the items are transitions.
        seed: of the sampling generator.
    """

    def __init__(self, shard_id: int, capacity: int, *, priority_exponent: float | None = None,
                 importance_exponent: float | LinearSchedule = 0.4, min_size_to_sample: int = 1,
                 samples_per_insert: float | None = None, error_buffer: float = 0.0,
                 frame_stack: int | None = None, sequence_period: int | None = None, seed: int = 0):
        self.shard_id = shard_id
        self.priority_updates = 0  # items whose new priority arrived, stale ones included
        if frame_stack is None:
            storage = RingStorage(capacity)
        elif sequence_period is None:
            storage = FrameStackStorage(capacity, stack=frame_stack)
        else:
            storage = SequenceStorage(capacity, stack=frame_stack, period=sequence_period)
        if priority_exponent is None:
            sampler = uniform_sampler(capacity)
        else:
            sampler = PrioritizedSampler(capacity, priority_exponent=priority_exponent,
                                         importance_exponent=importance_exponent)
        if samples_per_insert is None:
            limiter = RateLimiter.min_size(min_size_to_sample)
        else:
            limiter = RateLimiter.sample_to_insert_ratio(samples_per_insert, min_size_to_sample, error_buffer)
        self.buffer = ReplayBuffer(storage, sampler, limiter, seed=seed)

    def add(self, batch: Batch) -> bool:
        """Insert a batch (with an optional ``priority`` field); False if the rate limiter holds inserts back.

        An empty batch is a no-op: a worker's call may close no transition (all cut by time limits) or sequence.
        """
        num_items = self.buffer.storage.count_items(batch)
        if not self.buffer.can_insert(num_items):
            return False
        if num_items:
            self.buffer.add(batch)
        return True

    def sample(self, batch_size: int, learner_step: int = 0) -> tuple[int, Batch] | None:
        """``(shard_id, batch)`` with ``importance_weight``, ``indices`` and ``keys``, or None if sampling is held
        back."""
        batch = self.buffer.sample(batch_size, learner_step=learner_step)
        return None if batch is None else (self.shard_id, batch)

    def update_priorities(self, indices, keys, priorities) -> None:
        """New priorities for sampled items; those overwritten since they were sampled are left alone."""
        self.buffer.update_priorities(indices, keys, priorities)
        self.priority_updates += len(indices)

    def size(self) -> int:
        return self.buffer.size

    def stats(self) -> dict[str, int]:
        return {"shard_id": self.shard_id, "priority_updates": self.priority_updates, **self.buffer.stats()}


def surface_errors(calls: list) -> list:
    """Raise the error of any finished call among ``calls`` (object refs of fire-and-forget ``add`` calls); return
    the unfinished ones. A plan checks its adds once a report, so a shard that failed (a bad batch, out of memory)
    ends the trial, for Tune to retry from its checkpoint, instead of starving the learner unseen."""
    import ray

    if not calls:
        return calls
    finished, pending = ray.wait(calls, num_returns=len(calls), timeout=0)
    ray.get(finished)
    return pending
