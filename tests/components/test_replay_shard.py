"""ReplayShard as a plain object (uniform, prioritized, rate-limited, stale updates), then once as a Ray actor."""

import numpy as np
import pytest

from rayrl.components.replay_shard import ReplayShard
from rayrl.replay import SequenceAdder
from tests.replay.sequence_streams import EnvStreams, decode_frames


def transitions(first_id: int, count: int, priority=None) -> dict[str, np.ndarray]:
    ids = np.arange(first_id, first_id + count)
    batch = {"obs": ids[:, None].astype(np.float32), "action": ids}
    if priority is not None:
        batch["priority"] = np.asarray(priority, np.float64)
    return batch


def test_uniform_shard_waits_for_min_size_then_samples_stored_items():
    shard = ReplayShard(3, capacity=100, min_size_to_sample=20)
    assert shard.add(transitions(0, 10))
    assert shard.sample(4) is None
    assert shard.add(transitions(10, 10))
    shard_id, batch = shard.sample(8)
    assert shard_id == 3 and shard.size() == 20
    np.testing.assert_array_equal(batch["obs"][:, 0], batch["action"])
    np.testing.assert_array_equal(batch["importance_weight"], np.ones(8, np.float32))
    assert set(batch) == {"obs", "action", "importance_weight", "indices", "keys"}


def test_an_empty_batch_is_a_no_op():
    shard = ReplayShard(0, capacity=10)
    assert shard.add(transitions(0, 0))
    assert shard.size() == 0 and shard.sample(1) is None


def test_prioritized_shard_samples_by_priority_and_applies_updates():
    shard = ReplayShard(0, capacity=10, priority_exponent=1.0, importance_exponent=1.0)
    shard.add(transitions(0, 2, priority=[1.0, 0.0]))
    _, batch = shard.sample(16)
    assert np.all(batch["action"] == 0)  # priority 0 is never drawn
    shard.update_priorities(np.array([0, 1]), np.array([0, 1]), np.array([0.0, 2.0]))
    _, batch = shard.sample(16)
    assert np.all(batch["action"] == 1)


def test_priority_updates_for_overwritten_items_are_ignored():
    shard = ReplayShard(0, capacity=4, priority_exponent=1.0)
    shard.add(transitions(0, 4, priority=np.ones(4)))
    _, batch = shard.sample(4)
    shard.add(transitions(4, 4, priority=np.ones(4)))  # overwrites every sampled item
    shard.update_priorities(batch["indices"], batch["keys"], np.zeros(4))
    assert shard.stats()["stale_priority_updates"] == 4
    _, fresh = shard.sample(64)
    assert np.all(fresh["action"] >= 4)  # the zero priorities did not land on the new items
    assert set(np.unique(fresh["action"])) == {4, 5, 6, 7}


def test_samples_per_insert_holds_back_the_side_that_runs_ahead():
    shard = ReplayShard(0, capacity=1000, min_size_to_sample=10, samples_per_insert=1.0, error_buffer=20)
    assert shard.add(transitions(0, 10))
    assert shard.add(transitions(10, 20))
    assert not shard.add(transitions(30, 20))  # 40 inserts beyond the 10 allowed without sampling: held back
    assert shard.sample(20) is not None
    assert shard.add(transitions(30, 20))
    assert shard.sample(30) is not None and shard.sample(30) is None
    stats = shard.stats()
    assert (stats["inserts"], stats["samples"], stats["size"]) == (50, 50, 50)


def sequence_batches(frame_stack: int | None, L: int = 6, period: int = 3) -> list[dict[str, np.ndarray]]:
    """R2D2 sequences from 3 envs, each batch with initial priorities (its last step's reward, made positive)."""
    streams = EnvStreams(3, 120, frame_stack=frame_stack, seed=0, episode_lengths=(5, 30))
    adder = SequenceAdder(3, L, period, frame_stack)
    batches = [adder.add(steps) for steps in streams.calls([4] + [8] * 14 + [4])]
    return [{**batch, "priority": np.abs(batch["reward"][:, 0]).astype(np.float64) + 0.1} for batch in batches]


@pytest.mark.parametrize("frame_stack", [4, None])
def test_a_shard_of_sequences_samples_them_with_importance_weights(frame_stack):
    shard = ReplayShard(0, capacity=30, priority_exponent=0.9, importance_exponent=0.6, frame_stack=frame_stack,
                        sequence_period=3)
    batches = sequence_batches(frame_stack)
    assert len(batches[0]["mask"]) == 0  # nothing complete after 4 steps: an empty batch, no-op
    for batch in batches:
        assert shard.add(batch)
    assert 20 < shard.size() <= 30  # short episodes: more frames a sequence, so frames may run out first
    _, sample = shard.sample(16)
    fields = set(batches[0]) - {"priority"}
    assert fields <= set(sample)
    (weight_key,) = set(sample) - fields - {"indices", "keys"}  # the importance weights, whatever their name
    assert sample[weight_key].dtype == np.float32 and np.all((sample[weight_key] > 0) & (sample[weight_key] <= 1))
    assert sample[weight_key].min() < 1  # the priorities differ
    if frame_stack is None:
        assert sample["obs"].shape == (16, 6, 3)
    else:
        assert sample["frames"].shape == (16, 3 + 6, 2, 3)
        steps = decode_frames(sample["frames"][:, 3:])[..., 1]
        np.testing.assert_array_equal(np.diff(steps, axis=1)[sample["mask"][:, 1:]], 1)  # each sequence's own steps
    shard.update_priorities(sample["indices"], sample["keys"], np.full(16, 2.0))
    assert shard.stats()["stale_priority_updates"] == 0


@pytest.mark.usefixtures("ray_session")
def test_shard_as_a_ray_actor():
    import ray

    shard = ray.remote(ReplayShard).options(num_cpus=0).remote(7, 50, priority_exponent=0.6)
    assert ray.get(shard.add.remote(transitions(0, 30, priority=np.ones(30))))
    shard_id, batch = ray.get(shard.sample.remote(16))
    assert shard_id == 7 and batch["obs"].shape == (16, 1)
    ray.get(shard.update_priorities.remote(batch["indices"], batch["keys"], np.full(16, 2.0)))
    assert ray.get(shard.size.remote()) == 30
    assert ray.get(shard.stats.remote())["stale_priority_updates"] == 0
    ray.kill(shard)


def test_a_failed_add_surfaces_when_the_plan_checks_its_adds(ray_session):
    from rayrl.components.replay_shard import surface_errors

    shard = ray_session.remote(num_cpus=0)(ReplayShard).remote(0, capacity=10)
    try:
        good = shard.add.remote(transitions(0, 2))
        bad = shard.add.remote({"obs": np.zeros((2, 1), np.float32)})  # a field missing: the shard refuses it
        ray_session.wait([good, bad], num_returns=2)
        assert surface_errors([good]) == []
        with pytest.raises(ValueError, match="differ from the stored"):
            surface_errors([good, bad])
    finally:
        ray_session.kill(shard)
