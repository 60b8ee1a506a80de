"""Replay buffers: a storage, a sampler and a rate limiter, the split of Reverb's tables (Cassirer et al. 2021).

- the storage (:mod:`rayrl.replay.storage`) holds the items;
- the sampler picks which items a batch holds: :class:`FifoSampler` (a queue: oldest first, each item once),
  :func:`uniform_sampler`, or :class:`PrioritizedSampler` (Schaul et al. 2016, as used by Ape-X, Horgan et al. 2018,
  and R2D2);
- the :class:`RateLimiter` says when inserting and sampling may proceed. Its answers are queries, never waits:
  ``can_insert`` / ``can_sample`` let the Ray actor that wraps a buffer poll and answer its callers.

A sample is the items' fields plus ``importance_weight`` (importance-sampling weights, float32), ``indices`` (slots) and
``keys``. Hand ``indices`` and ``keys`` back with new priorities: an update whose item has since been overwritten is
dropped, not applied to the item that took its slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rayrl.core import Batch
from rayrl.replay.storage import Storage
from rayrl.replay.sum_tree import SumTree


@dataclass(frozen=True)
class LinearSchedule:
    """A value moving linearly from ``start`` to ``end`` over ``duration`` steps, then held at ``end``.

    Prioritized replay anneals its importance-sampling exponent beta from beta_0 to 1 (Schaul et al. 2016, sec. 3.4):
    the correction of the sampling bias matters most near convergence.
    """

    start: float
    end: float
    duration: int

    def __post_init__(self) -> None:
        if self.duration < 1:
            raise ValueError(f"LinearSchedule duration must be at least 1, got {self.duration}")

    def __call__(self, step: int) -> float:
        fraction = min(max(step, 0) / self.duration, 1.0)
        return self.start + fraction * (self.end - self.start)


class RateLimiter:
    """When inserts and samples may proceed: Reverb's rate limiter, counting items (a batch of 512 is 512 samples).

    Sampling needs ``min_size_to_sample`` items stored and keeps ``inserts * samples_per_insert - samples`` at or
    above ``min_diff``; inserting keeps it at or below ``max_diff`` once the buffer holds ``min_size_to_sample``.
    So a learner cannot sample far ahead of the actors, nor actors insert far ahead of the learner.
    """

    def __init__(self, *, min_size_to_sample: int = 1, samples_per_insert: float = 1.0,
                 min_diff: float = -np.inf, max_diff: float = np.inf):
        if min_size_to_sample < 1 or samples_per_insert <= 0 or min_diff > max_diff:
            raise ValueError("need min_size_to_sample >= 1, samples_per_insert > 0 and min_diff <= max_diff")
        self.min_size_to_sample = min_size_to_sample
        self.samples_per_insert = samples_per_insert
        self.min_diff = min_diff
        self.max_diff = max_diff
        self.inserts = 0
        self.samples = 0

    @classmethod
    def min_size(cls, min_size_to_sample: int) -> RateLimiter:
        """Sampling waits for ``min_size_to_sample`` items (DQN's "learning starts"); no ratio after that."""
        return cls(min_size_to_sample=min_size_to_sample)

    @classmethod
    def sample_to_insert_ratio(cls, samples_per_insert: float, min_size_to_sample: int,
                               error_buffer: float) -> RateLimiter:
        """Keep ``samples / inserts`` near ``samples_per_insert``, within ``error_buffer`` samples either way.

        Make ``error_buffer`` larger than the largest batch of samples or inserts, or neither side can move.
        """
        offset = samples_per_insert * min_size_to_sample
        return cls(min_size_to_sample=min_size_to_sample, samples_per_insert=samples_per_insert,
                   min_diff=offset - error_buffer, max_diff=offset + error_buffer)

    @classmethod
    def queue(cls, size: int) -> RateLimiter:
        """Each item sampled exactly once, at most ``size`` waiting: with a :class:`FifoSampler`, a queue."""
        return cls(min_size_to_sample=1, samples_per_insert=1.0, min_diff=0.0, max_diff=float(size))

    def can_insert(self, num_items: int, size: int) -> bool:
        if size + num_items <= self.min_size_to_sample:
            return True
        return (self.inserts + num_items) * self.samples_per_insert - self.samples <= self.max_diff

    def can_sample(self, num_items: int, size: int) -> bool:
        if size < self.min_size_to_sample:
            return False
        return self.inserts * self.samples_per_insert - self.samples - num_items >= self.min_diff


class Sampler(Protocol):
    """Chooses the slots of a batch and their importance weights; mirrors the storage's inserts and evictions."""

    capacity: int

    @property
    def nbytes(self) -> int: ...

    def insert(self, slots: np.ndarray, keys: np.ndarray, priorities: np.ndarray | None) -> None: ...

    def remove(self, slots: np.ndarray) -> None: ...

    def update(self, slots: np.ndarray, priorities: np.ndarray) -> None: ...

    def can_sample(self, batch_size: int) -> bool: ...

    def sample(self, batch_size: int, rng: np.random.Generator, learner_step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(slots [batch_size] int64, importance weights [batch_size] float32)``."""
        ...


class FifoSampler:
    """Oldest item first, each item once: a queue (e.g. IMPALA's trajectories, like a Reverb Queue table).

    It walks the keys in insertion order, so it needs a storage whose keys have no gaps (:class:`RingStorage`).
    Pair it with :meth:`RateLimiter.queue` so that inserts wait for room instead of overwriting waiting items.
    Priorities are ignored and weights are 1.
    """

    nbytes = 0

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._next_key = 0  # one past the newest inserted key
        self._head = 0  # the oldest key not yet sampled

    def insert(self, slots: np.ndarray, keys: np.ndarray, priorities: np.ndarray | None) -> None:
        if len(keys) and not np.array_equal(keys, np.arange(self._next_key, self._next_key + len(keys))):
            raise ValueError("FifoSampler needs keys in insertion order without gaps, as RingStorage makes them")
        self._next_key += len(keys)

    def remove(self, slots: np.ndarray) -> None:
        """Nothing to do: a gap-free storage only removes an item by replacing it, which ``insert`` sees."""

    def update(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        """Nothing to do: a queue has no priorities."""

    def can_sample(self, batch_size: int) -> bool:
        return self._next_key - self._oldest_waiting() >= batch_size

    def sample(self, batch_size: int, rng: np.random.Generator, learner_step: int) -> tuple[np.ndarray, np.ndarray]:
        keys = self._oldest_waiting() + np.arange(batch_size, dtype=np.int64)
        self._head = int(keys[-1]) + 1
        return keys % self.capacity, np.ones(batch_size, np.float32)

    def _oldest_waiting(self) -> int:
        """Items overwritten before they were sampled are gone: the queue skips them."""
        return max(self._head, self._next_key - self.capacity)


class PrioritizedSampler:
    """Proportional prioritized replay (Schaul et al. 2016, sec. 3.3), as in Ape-X (Horgan et al. 2018).

    Item i is drawn with probability ``P(i) = p_i^alpha / sum_k p_k^alpha`` (stratified over a batch) and weighted by
    ``w_i = (N P(i))^-beta / max_j w_j``, which corrects the bias of non-uniform sampling when ``beta = 1``. The
    maximum runs over the whole buffer, so ``w_i = (p_i^alpha / min_j p_j^alpha)^-beta``, read off the tree's
    minimum; N cancels. New items without a priority get the largest priority seen so far, so each is likely to be
    replayed at least once. Priorities must be non-negative; an item of priority 0 is never drawn.

    Args:
        capacity: the storage's capacity.
        priority_exponent: alpha; 0 gives uniform replay. Ape-X uses 0.6, R2D2 0.9.
        importance_exponent: beta, a constant or a :class:`LinearSchedule` evaluated at the ``learner_step`` that
            the caller passes to ``sample``. Ape-X uses a constant 0.4; Schaul et al. anneal 0.4 to 1 (proportional
            variant).
    """

    def __init__(self, capacity: int, *, priority_exponent: float = 0.6,
                 importance_exponent: float | LinearSchedule = 0.4):
        self.capacity = capacity
        self.priority_exponent = priority_exponent
        if not isinstance(importance_exponent, LinearSchedule):
            importance_exponent = LinearSchedule(importance_exponent, importance_exponent, 1)
        self.importance_exponent = importance_exponent
        self.max_priority = 1.0
        self.tree = SumTree(capacity)

    @property
    def nbytes(self) -> int:
        return self.tree.nbytes

    def insert(self, slots: np.ndarray, keys: np.ndarray, priorities: np.ndarray | None) -> None:
        self.update(slots, np.full(len(slots), self.max_priority) if priorities is None else priorities)

    def remove(self, slots: np.ndarray) -> None:
        self.tree.update(slots, 0.0)

    def update(self, slots: np.ndarray, priorities: np.ndarray) -> None:
        priorities = np.asarray(priorities, np.float64)
        if not np.all(priorities >= 0):  # also catches NaN
            raise ValueError("priorities must be non-negative numbers")
        self.tree.update(slots, priorities**self.priority_exponent)
        if priorities.size:
            self.max_priority = max(self.max_priority, float(priorities.max()))

    def can_sample(self, batch_size: int) -> bool:
        return self.tree.total > 0

    def sample(self, batch_size: int, rng: np.random.Generator, learner_step: int) -> tuple[np.ndarray, np.ndarray]:
        slots = self.tree.sample_stratified(batch_size, rng)
        beta = self.importance_exponent(learner_step)
        weights = (self.tree.values(slots) / self.tree.min) ** -beta
        return slots, weights.astype(np.float32)


def uniform_sampler(capacity: int) -> PrioritizedSampler:
    """Uniform replay: prioritized replay with alpha = 0 (Schaul et al. 2016, eq. 1), so every weight is 1.

    The sum tree also serves storages whose live items are not contiguous (evictions in FrameStackStorage).
    """
    return PrioritizedSampler(capacity, priority_exponent=0.0, importance_exponent=0.0)


class ReplayBuffer:
    """A storage, a sampler and a rate limiter behind ``add`` / ``sample`` / ``update_priorities``.

    Example, Ape-X's replay::

        storage = RingStorage(2_000_000)
        replay = ReplayBuffer(storage, PrioritizedSampler(storage.capacity, priority_exponent=0.6,
                                                          importance_exponent=0.4), RateLimiter.min_size(50_000))
    """

    def __init__(self, storage: Storage, sampler: Sampler, rate_limiter: RateLimiter | None = None, *, seed: int = 0):
        if sampler.capacity != storage.capacity:
            raise ValueError(f"sampler capacity {sampler.capacity} differs from storage capacity {storage.capacity}")
        self.storage = storage
        self.sampler = sampler
        self.rate_limiter = rate_limiter or RateLimiter.min_size(1)
        self.stale_priority_updates = 0
        self._rng = np.random.default_rng(seed)

    @property
    def size(self) -> int:
        return self.storage.size

    @property
    def nbytes(self) -> int:
        return self.storage.nbytes + self.sampler.nbytes

    def can_insert(self, num_items: int) -> bool:
        """Whether ``num_items`` new items may go in now (``storage.count_items(batch)`` counts a batch's)."""
        return self.rate_limiter.can_insert(num_items, self.size)

    def can_sample(self, batch_size: int) -> bool:
        return self.sampler.can_sample(batch_size) and self.rate_limiter.can_sample(batch_size, self.size)

    def add(self, batch: Batch) -> None:
        """Insert a batch in the storage's format; raises if the rate limiter does not allow it now."""
        if not self.can_insert(self.storage.count_items(batch)):
            raise RuntimeError("the rate limiter forbids this insert now: poll can_insert() before add()")
        inserted = self.storage.add(batch)
        self.sampler.remove(inserted.removed)
        self.sampler.insert(inserted.slots, inserted.keys, inserted.priorities)
        self.rate_limiter.inserts += len(inserted.slots)

    def sample(self, batch_size: int, *, learner_step: int = 0) -> Batch | None:
        """A batch of ``batch_size`` items with ``importance_weight``, ``indices`` and ``keys``, or None if not
        allowed now.

        ``learner_step`` drives the sampler's importance-exponent schedule.
        """
        if not self.can_sample(batch_size):
            return None
        slots, weights = self.sampler.sample(batch_size, self._rng, learner_step)
        batch = self.storage.get(slots)
        batch.update(importance_weight=weights, indices=slots, keys=self.storage.keys[slots])
        self.rate_limiter.samples += batch_size
        return batch

    def update_priorities(self, indices: np.ndarray, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Set new priorities for sampled items; updates for items overwritten since they were sampled are dropped."""
        indices = np.asarray(indices, np.int64)
        fresh = self.storage.keys[indices] == np.asarray(keys)
        self.stale_priority_updates += int(np.count_nonzero(~fresh))
        self.sampler.update(indices[fresh], np.asarray(priorities)[fresh])

    def stats(self) -> dict[str, int]:
        return {
            "size": self.size,
            "capacity": self.storage.capacity,
            "inserts": self.rate_limiter.inserts,
            "samples": self.rate_limiter.samples,
            "stale_priority_updates": self.stale_priority_updates,
            "nbytes": self.nbytes,
        }
