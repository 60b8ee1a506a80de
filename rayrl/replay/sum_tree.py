"""A vectorised sum tree: the data structure behind proportional prioritized replay (Schaul et al. 2016, sec. 3.3).

Leaves hold non-negative masses (priorities already raised to alpha); each internal node holds the sum of its two
children, so the root is the total mass and a prefix-sum search walks one root-to-leaf path. The tree lives in one
flat array of size ``2 * capacity_pow2`` (node ``i`` has children ``2i`` and ``2i + 1``, the root is node 1, leaf
``j`` is node ``capacity_pow2 + j``), and every operation works on a whole batch at once: numpy loops over the
``log2(capacity)`` levels, never over the items of a batch.

A second array of the same layout holds the minimum positive leaf of each subtree. Prioritized replay needs it to
normalise importance-sampling weights by the largest weight in the buffer, ``max_j w_j = (N min_j P(j))^-beta``.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Sums (and minimum positive leaves) over ``capacity`` non-negative leaf masses, all initially 0."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._depth = int(np.ceil(np.log2(capacity)))
        self._first_leaf = 2**self._depth
        self._sums = np.zeros(2 * self._first_leaf, np.float64)
        # A leaf of mass 0 (empty, evicted, or never sampleable) must not be the minimum: it holds +inf here.
        self._mins = np.full(2 * self._first_leaf, np.inf, np.float64)

    @property
    def total(self) -> float:
        """The sum of all leaves."""
        return float(self._sums[1])

    @property
    def min(self) -> float:
        """The smallest positive leaf (``inf`` when every leaf is 0)."""
        return float(self._mins[1])

    @property
    def nbytes(self) -> int:
        return self._sums.nbytes + self._mins.nbytes

    def values(self, indices: np.ndarray) -> np.ndarray:
        """The leaf masses at ``indices``."""
        return self._sums[self._first_leaf + np.asarray(indices)]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set the leaves at ``indices`` to ``values`` (>= 0) and refresh their ancestors.

        An index that appears several times takes the value of its last occurrence, as sequential writes would.
        Numpy leaves duplicate fancy-index assignment unordered, so the last occurrences are picked explicitly.
        """
        indices = np.asarray(indices, np.int64)
        values = np.broadcast_to(np.asarray(values, np.float64), indices.shape)
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"SumTree indices must lie in [0, {self.capacity})")
        if not np.all(values >= 0):  # also rejects NaN
            raise ValueError("SumTree values must be non-negative numbers")
        last_first = indices[::-1]
        indices, position = np.unique(last_first, return_index=True)
        values = values[::-1][position]

        nodes = self._first_leaf + indices
        self._sums[nodes] = values
        self._mins[nodes] = np.where(values > 0, values, np.inf)
        for _ in range(self._depth):
            # Siblings share a parent, so parents repeat; each repeat writes the same value, which is safe.
            nodes = nodes // 2
            left, right = 2 * nodes, 2 * nodes + 1
            self._sums[nodes] = self._sums[left] + self._sums[right]
            self._mins[nodes] = np.minimum(self._mins[left], self._mins[right])

    def find_prefix_sum(self, masses: np.ndarray) -> np.ndarray:
        """For each mass ``m`` in ``[0, total)``, the leaf ``i`` with ``sum(leaves[:i]) <= m < sum(leaves[:i + 1])``.

        That is ``searchsorted(cumsum(leaves), m, side="right")``: leaves of mass 0 are never returned. A mass at or
        beyond the total (floating-point rounding can produce one) returns the last leaf of positive mass.
        Requires ``total > 0``.
        """
        if not self._sums[1] > 0:
            raise ValueError("cannot search a SumTree whose total is 0")
        remaining = np.array(masses, np.float64)
        nodes = np.ones(remaining.shape, np.int64)
        for _ in range(self._depth):
            left = 2 * nodes
            left_sum = self._sums[left]
            # Go right when the mass lies past the left subtree, unless the right subtree is empty (only rounding
            # can ask for that); this keeps every visited subtree's sum positive, so the leaf reached is positive.
            go_right = (remaining >= left_sum) & (self._sums[left + 1] > 0)
            remaining -= np.where(go_right, left_sum, 0.0)
            nodes = left + go_right
        return nodes - self._first_leaf

    def sample_stratified(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` leaves drawn proportionally to their mass, one uniform draw per equal-mass segment.

        Splitting ``[0, total)`` into ``batch_size`` segments and drawing once in each (Schaul et al. 2016, appendix
        B.2.1) keeps each leaf's expected count at ``batch_size * mass / total`` while spreading a batch over the
        whole buffer, with less variance than independent draws.
        """
        segment = self.total / batch_size
        return self.find_prefix_sum((np.arange(batch_size) + rng.random(batch_size)) * segment)
