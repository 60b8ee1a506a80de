"""SumTree against brute-force numpy: totals, prefix-sum search, batched updates, stratified sampling."""

import numpy as np
import pytest

from rayrl.replay import SumTree


def dyadic_masses(rng: np.random.Generator, size: int) -> np.ndarray:
    """Masses that add up exactly in float64 (multiples of 1/8), a quarter of them 0."""
    masses = rng.integers(1, 64, size=size) / 8.0
    masses[rng.random(size) < 0.25] = 0.0
    return masses


@pytest.mark.parametrize("capacity", [1, 2, 7, 1000])
def test_total_min_and_prefix_search_match_cumsum_searchsorted(capacity):
    rng = np.random.default_rng(capacity)
    masses = dyadic_masses(rng, capacity)
    masses[rng.integers(capacity)] = 0.5  # at least one positive leaf
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), masses)

    cumsum = np.cumsum(masses)
    assert tree.total == cumsum[-1]
    assert tree.min == masses[masses > 0].min()
    np.testing.assert_array_equal(tree.values(np.arange(capacity)), masses)
    # Random masses and every exact boundary (a mass equal to a prefix sum belongs to the next positive leaf).
    queries = np.concatenate([rng.random(500) * tree.total, cumsum[cumsum < tree.total], [0.0]])
    np.testing.assert_array_equal(tree.find_prefix_sum(queries), np.searchsorted(cumsum, queries, side="right"))


def test_masses_at_or_past_the_total_return_the_last_positive_leaf():
    tree = SumTree(8)
    tree.update(np.arange(8), [1, 0, 2, 3, 0, 1, 0, 0])
    np.testing.assert_array_equal(tree.find_prefix_sum([7.0, 7.5, 100.0]), [5, 5, 5])


def test_batched_update_equals_sequential_writes_and_last_duplicate_wins():
    rng = np.random.default_rng(0)
    capacity = 300
    tree, expected = SumTree(capacity), np.zeros(capacity)
    for _ in range(20):
        indices = rng.integers(capacity, size=400)  # many duplicates
        values = dyadic_masses(rng, 400)
        tree.update(indices, values)
        for index, value in zip(indices, values):
            expected[index] = value
        np.testing.assert_array_equal(tree.values(np.arange(capacity)), expected)
        assert tree.total == expected.sum()
        assert tree.min == (expected[expected > 0].min() if expected.any() else np.inf)
    tree.update([3, 5, 3, 3], [1.0, 2.0, 7.0, 4.0])
    assert tree.values([3])[0] == 4.0


def test_updates_reject_bad_values_and_indices():
    tree = SumTree(4)
    with pytest.raises(ValueError):
        tree.update([0], [-1.0])
    with pytest.raises(ValueError):
        tree.update([0], [np.nan])
    with pytest.raises(IndexError):
        tree.update([4], [1.0])
    with pytest.raises(ValueError):
        tree.find_prefix_sum([0.0])  # empty tree


def test_stratified_sampling_draws_once_per_equal_mass_segment():
    rng = np.random.default_rng(0)
    tree = SumTree(64)
    tree.update(np.arange(64), np.where(np.arange(64) % 2 == 0, 1.0, 0.0))  # 32 equal leaves, 32 empty
    for _ in range(10):
        np.testing.assert_array_equal(tree.sample_stratified(32, rng), np.arange(0, 64, 2))
