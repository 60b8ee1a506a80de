"""ReplayBuffer with each sampler: distributions, importance weights, stale updates, FIFO order, rate limits."""

import numpy as np
import pytest

from rayrl.replay import (
    FifoSampler,
    FrameStackStorage,
    LinearSchedule,
    PrioritizedSampler,
    RateLimiter,
    ReplayBuffer,
    RingStorage,
    uniform_sampler,
)

from .fake_streams import FakeStreams, assert_stacks_correct


def transitions(first_id: int, count: int, priority: np.ndarray | None = None) -> dict[str, np.ndarray]:
    ids = np.arange(first_id, first_id + count)
    batch = {"obs": ids[:, None].astype(np.float32), "action": ids}
    if priority is not None:
        batch["priority"] = np.asarray(priority, np.float64)
    return batch


def prioritized(capacity: int, rate_limiter: RateLimiter | None = None, **kwargs) -> ReplayBuffer:
    return ReplayBuffer(RingStorage(capacity), PrioritizedSampler(capacity, **kwargs), rate_limiter)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_sampling_frequencies_match_p_to_the_alpha_over_the_sum(alpha):
    rng = np.random.default_rng(1)
    priorities = rng.uniform(0.05, 5.0, size=40)
    replay = prioritized(40, priority_exponent=alpha)
    replay.add(transitions(0, 40, priorities))
    counts = np.zeros(40)
    for _ in range(200):
        np.add.at(counts, replay.sample(256)["indices"], 1)
    draws = counts.sum()
    probability = priorities**alpha / np.sum(priorities**alpha)
    # Binomial bounds at 5 standard deviations per item; stratification only narrows the spread.
    tolerance = 5 * np.sqrt(draws * probability * (1 - probability)) + 1
    assert np.all(np.abs(counts - draws * probability) <= tolerance)


def test_importance_weights_follow_the_formula_over_the_whole_buffer():
    rng = np.random.default_rng(2)
    alpha, schedule = 0.7, LinearSchedule(0.4, 1.0, 1000)
    priorities = rng.uniform(0.1, 3.0, size=50)
    replay = prioritized(64, priority_exponent=alpha, importance_exponent=schedule)
    replay.add(transitions(0, 50, priorities))
    for learner_step, beta in [(0, 0.4), (500, 0.7), (5000, 1.0)]:
        batch = replay.sample(32, learner_step=learner_step)
        probability = priorities**alpha / np.sum(priorities**alpha)  # P(i) over the N = 50 stored items
        weights = (50 * probability) ** -beta
        expected = weights[batch["indices"]] / weights.max()
        np.testing.assert_allclose(batch["importance_weight"], expected, rtol=1e-6)
        assert batch["importance_weight"].dtype == np.float32


def test_linear_schedule():
    schedule = LinearSchedule(0.4, 1.0, 100)
    assert [schedule(step) for step in (-5, 0, 50, 100, 10**6)] == pytest.approx([0.4, 0.4, 0.7, 1.0, 1.0])


def test_new_items_get_the_largest_priority_seen():
    replay = prioritized(8, priority_exponent=1.0)
    replay.add(transitions(0, 2, [0.5, 3.0]))
    replay.update_priorities(np.array([0]), np.array([0]), np.array([7.0]))
    replay.add(transitions(2, 1))
    np.testing.assert_array_equal(replay.sampler.tree.values([0, 1, 2]), [7.0, 3.0, 7.0])


def test_priority_updates_for_overwritten_items_are_dropped():
    replay = prioritized(4, priority_exponent=1.0)
    replay.add(transitions(0, 4, np.ones(4)))
    batch = replay.sample(4)
    replay.add(transitions(4, 2, np.ones(2)))  # overwrites slots 0 and 1
    replay.update_priorities(batch["indices"], batch["keys"], np.full(4, 9.0))
    expected = np.where(np.isin(batch["indices"], [0, 1]), 1.0, 9.0)
    np.testing.assert_array_equal(replay.sampler.tree.values(batch["indices"]), expected)
    assert replay.stale_priority_updates == np.count_nonzero(np.isin(batch["indices"], [0, 1]))


def test_duplicate_indices_in_one_update_take_the_last_priority():
    replay = prioritized(4, priority_exponent=1.0)
    replay.add(transitions(0, 4, np.ones(4)))
    replay.update_priorities(np.array([2, 2, 2]), np.array([2, 2, 2]), np.array([5.0, 6.0, 4.0]))
    assert replay.sampler.tree.values([2])[0] == 4.0


def test_zero_priority_items_are_never_sampled_and_negative_ones_are_refused():
    replay = prioritized(8, priority_exponent=0.6)
    replay.add(transitions(0, 8, [0, 1, 0, 2, 0, 0, 3, 0]))
    drawn = np.concatenate([replay.sample(64)["indices"] for _ in range(20)])
    assert set(drawn) == {1, 3, 6}
    with pytest.raises(ValueError):
        replay.update_priorities(np.array([1]), np.array([1]), np.array([-1.0]))


def test_uniform_sampler_weights_are_one_and_priorities_change_nothing():
    replay = ReplayBuffer(RingStorage(16), uniform_sampler(16))
    replay.add(transitions(0, 16, np.arange(16) + 1.0))
    batch = replay.sample(16)
    np.testing.assert_array_equal(batch["importance_weight"], np.ones(16))
    np.testing.assert_array_equal(np.sort(batch["indices"]), np.arange(16))  # one draw per equal-mass segment


def fifo(capacity: int, rate_limiter: RateLimiter | None = None) -> ReplayBuffer:
    return ReplayBuffer(RingStorage(capacity), FifoSampler(capacity), rate_limiter)


def test_fifo_hands_out_oldest_first_each_item_once():
    replay = fifo(8, RateLimiter.queue(8))
    replay.add(transitions(0, 5))
    replay.add(transitions(5, 3))
    assert not replay.can_insert(1)  # full of items not yet sampled
    np.testing.assert_array_equal(replay.sample(3)["action"], [0, 1, 2])
    replay.add(transitions(8, 3))  # goes into the slots just consumed
    np.testing.assert_array_equal(replay.sample(6)["action"], [3, 4, 5, 6, 7, 8])
    assert not replay.can_sample(3) and replay.sample(3) is None
    np.testing.assert_array_equal(replay.sample(2)["action"], [9, 10])


def test_fifo_without_a_queue_limit_skips_items_overwritten_before_sampling():
    replay = fifo(4)
    replay.add(transitions(0, 3))
    replay.add(transitions(3, 3))  # overwrites items 0 and 1
    np.testing.assert_array_equal(replay.sample(4)["action"], [2, 3, 4, 5])


def test_fifo_refuses_a_storage_with_key_gaps():
    replay = ReplayBuffer(FrameStackStorage(64), FifoSampler(64))
    with pytest.raises(ValueError, match="without gaps"):
        replay.add(FakeStreams(1, stack=4, n=1, steps=4, seed=0).chunk([0]))


def test_min_size_limiter_waits_for_learning_starts():
    replay = prioritized(100, RateLimiter.min_size(10))
    replay.add(transitions(0, 9))
    assert not replay.can_sample(1) and replay.sample(1) is None
    replay.add(transitions(9, 1))
    assert replay.can_sample(32) and replay.sample(32) is not None


def test_sample_to_insert_ratio_holds_both_sides_within_the_error_buffer():
    """2 samples per insert after 10 items, within 20 samples either way (Reverb's SampleToInsertRatio)."""
    replay = prioritized(1000, RateLimiter.sample_to_insert_ratio(2.0, 10, 20.0))
    replay.add(transitions(0, 10))  # inserts are free until the buffer holds 10
    # diff = 2 * inserts - samples must stay in [20 - 20, 20 + 20]
    assert replay.can_sample(20) and not replay.can_sample(21)
    assert replay.can_insert(10) and not replay.can_insert(11)
    replay.sample(20)
    assert not replay.can_sample(1)  # the learner must wait for actors
    replay.add(transitions(10, 5))
    assert replay.can_sample(10) and not replay.can_sample(11)
    with pytest.raises(RuntimeError, match="can_insert"):
        replay.add(transitions(15, 16))  # actors must wait for the learner
    assert replay.stats()["inserts"] == 15 and replay.stats()["samples"] == 20


def test_prioritized_replay_of_frame_stacks_never_samples_evicted_transitions():
    streams = FakeStreams(4, stack=4, n=3, steps=5, seed=5, max_episode_length=8)
    storage = FrameStackStorage(200, stack=4)
    replay = ReplayBuffer(storage, PrioritizedSampler(200, priority_exponent=0.6))
    rng = np.random.default_rng(0)
    for _ in range(150):
        replay.add(streams.chunk([s for s in range(4) if rng.random() < 0.6] or [0], with_priority=True))
        batch = replay.sample(64)
        assert np.all(storage.keys[batch["indices"]] == batch["keys"])
        assert_stacks_correct(batch, streams)
        replay.update_priorities(batch["indices"], batch["keys"], rng.uniform(0.1, 2.0, 64))
    # Evicted slots hold no mass, so the tree's total is exactly that of the stored transitions.
    live = storage.keys >= 0
    assert replay.sampler.tree.values(np.flatnonzero(~live)).sum() == 0
    assert np.all(replay.sampler.tree.values(np.flatnonzero(live)) > 0)
