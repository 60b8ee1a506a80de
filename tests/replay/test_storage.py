"""RingStorage and FrameStackStorage: wrap-around, keys, frame stacks rebuilt exactly, evictions, bytes."""

import numpy as np
import pytest

from rayrl.replay import FrameStackStorage, RingStorage, SumTree, bytes_per_transition

from .fake_streams import FakeStreams, assert_stacks_correct, decode_frames, encode_frame


def transitions(first_id: int, count: int) -> dict[str, np.ndarray]:
    ids = np.arange(first_id, first_id + count)
    return {"obs": np.stack([ids, -ids], axis=1).astype(np.float32), "action": ids, "reward": ids.astype(np.float32)}


def test_ring_storage_wraps_around_overwriting_the_oldest():
    storage = RingStorage(5)
    first = storage.add(transitions(0, 3))
    second = storage.add(transitions(3, 4))
    np.testing.assert_array_equal(first.slots, [0, 1, 2])
    np.testing.assert_array_equal(second.slots, [3, 4, 0, 1])
    np.testing.assert_array_equal(second.keys, [3, 4, 5, 6])
    assert storage.size == 5 and len(second.removed) == 0  # overwritten slots hold the new items
    np.testing.assert_array_equal(storage.keys, [5, 6, 2, 3, 4])
    batch = storage.get(np.arange(5))
    np.testing.assert_array_equal(batch["action"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(batch["obs"][:, 1], -batch["action"])


def test_ring_storage_takes_a_spec_sequences_and_checks_batches():
    spec = {"obs": ((80, 3), np.float32), "action": ((80,), np.int64)}  # R2D2-like sequences [T, ...]
    storage = RingStorage(4, spec)
    assert storage.nbytes == 4 * 8 + 4 * 80 * 3 * 4 + 4 * 80 * 8
    storage.add({"obs": np.ones((2, 80, 3), np.float32), "action": np.ones((2, 80), np.int64)})
    assert storage.get(np.array([1]))["obs"].shape == (1, 80, 3)
    with pytest.raises(ValueError, match="fields"):
        storage.add({"obs": np.ones((2, 80, 3), np.float32)})
    with pytest.raises(ValueError, match="shape"):
        storage.add({"obs": np.ones((2, 79, 3), np.float32), "action": np.ones((2, 80), np.int64)})
    with pytest.raises(ValueError, match="1 to 4"):
        storage.add({"obs": np.ones((5, 80, 3), np.float32), "action": np.ones((5, 80), np.int64)})


def test_frame_stacks_repeat_the_episode_first_frame_and_stop_there():
    """One stream, stack 4, n = 2, hand-checked: an episode starts at step 0 and another at step 3."""
    stack, n, steps = 4, 2, 5
    storage = FrameStackStorage(64, stack=stack)
    frames = np.stack([encode_frame(0, max(step, 0)) for step in range(-3, steps + n)])[:, None]
    first = np.isin(np.arange(-3, steps + n), [0, 3])[:, None]
    inserted = storage.add({"frames": frames, "first": first, "action": np.arange(steps)[:, None],
                            "reward": np.zeros((steps, 1), np.float32), "discount": np.ones((steps, 1), np.float32)})
    batch = storage.get(inserted.slots)
    _, obs_steps = decode_frames(batch["obs"])
    _, next_steps = decode_frames(batch["next_obs"])
    np.testing.assert_array_equal(obs_steps, [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 2], [3, 3, 3, 3], [3, 3, 3, 4]])
    np.testing.assert_array_equal(next_steps, [[0, 0, 1, 2], [3, 3, 3, 3], [3, 3, 3, 4], [3, 3, 4, 5], [3, 4, 5, 6]])
    np.testing.assert_array_equal(batch["action"], np.arange(steps))
    assert storage.size == steps


def check_every_stored_transition(storage: FrameStackStorage, streams: FakeStreams) -> None:
    live = np.flatnonzero(storage.keys >= 0)
    assert len(live) == storage.size
    assert_stacks_correct(storage.get(live), streams)


def test_continued_streams_store_each_frame_once():
    streams = FakeStreams(4, stack=4, n=3, steps=8, seed=1)
    storage = FrameStackStorage(10_000, stack=4)
    for _ in range(30):
        storage.add(streams.chunk([0, 1, 2, 3]))
        check_every_stored_transition(storage, streams)
    # Every frame once: the transitions, plus per stream 3 context frames and the n frames awaiting a bootstrap.
    assert storage.size == 30 * 4 * 8
    assert storage.frames_written == storage.size + 4 * (3 + 3)


def test_stacks_never_show_a_foreign_frame_after_many_wrap_arounds():
    """Slow, skipped and interleaved streams in a small ring; after each add, every stored transition is checked,
    and exactly the transitions whose oldest frame is still in the ring are stored."""
    rng = np.random.default_rng(0)
    num_streams = 6
    streams = FakeStreams(num_streams, stack=4, n=3, steps=5, seed=2, max_episode_length=6)
    storage = FrameStackStorage(300, stack=4)
    oldest_frame_id = {}  # key -> id of the oldest frame its obs stack showed when inserted
    evicted = 0
    for _ in range(400):
        chosen = [s for s in range(num_streams) if rng.random() < (0.9 if s < 3 else 0.1)]  # 3 streams lag behind
        for stream in range(num_streams):
            if stream not in chosen and rng.random() < 0.02:
                streams.skip(stream)  # its next chunk no longer continues the stored one
        if not chosen:
            continue
        inserted = storage.add(streams.chunk(chosen))
        evicted += len(inserted.removed)
        check_every_stored_transition(storage, streams)
        # White-box oracle: a frame's id follows from its ring position and the number of frames written.
        oldest_position = storage._stack_positions(inserted.slots)[:, 0]
        oldest_ids = oldest_position + storage.capacity * ((storage.frames_written - 1 - oldest_position)
                                                           // storage.capacity)
        oldest_frame_id.update(zip(inserted.keys.tolist(), oldest_ids.tolist()))
        first_kept = storage.frames_written - storage.capacity
        expected = {key for key, oldest in oldest_frame_id.items() if oldest >= first_kept}
        assert set(storage.keys[storage.keys >= 0].tolist()) == expected
    assert storage.frames_written > 10 * storage.capacity
    assert evicted > 0  # slow streams' transitions went with the old frames their stacks reach back to
    assert storage.size > 0.8 * storage.capacity


def test_a_tail_that_this_add_would_overwrite_is_not_continued():
    streams = FakeStreams(2, stack=4, n=1, steps=1, seed=3)
    streams.first[:, 1:] = False
    streams.episode_start[:] = 0
    storage = FrameStackStorage(40, stack=4)
    for _ in range(4):
        storage.add(streams.chunk([0]))  # frames of steps -3..4 get ids 0..7; the tail is steps 1..4, ids 4..7
    storage.add(streams.chunk([1]))
    while storage.frames_written < storage.capacity + 4:
        storage.add(streams.chunk([1]))
    # Continuing stream 0 would write 2 frames, over ids 4 and 5: its tail. So it is stored whole instead.
    storage.add(streams.chunk([0, 1]))
    assert storage.frames_written == storage.capacity + 4 + 5 + 1
    check_every_stored_transition(storage, streams)


def test_a_transition_goes_when_an_older_frame_of_its_stack_is_overwritten():
    """Each chunk of one step writes one new frame, so the ring's overwrite point can be placed exactly."""
    streams = FakeStreams(2, stack=4, n=1, steps=1, seed=3)
    streams.first[:, 1:] = False  # one long episode: every stack from step 3 on reaches back 3 frames
    streams.episode_start[:] = 0
    storage = FrameStackStorage(40, stack=4)
    slots = [storage.add(streams.chunk([0])).slots[0] for _ in range(6)]  # frames of steps -3..6 get ids 0..9
    step_4, step_5 = slots[4], slots[5]  # ids 7 and 8; their stacks hold the frames of steps 1..4 and 2..5
    storage.add(streams.chunk([1]))
    while storage.frames_written < storage.capacity + 5:  # overwrite ids 0..4: steps -3..1
        storage.add(streams.chunk([1]))
    assert storage.keys[step_4] == -1 and storage.keys[step_5] == 8
    storage.add(streams.chunk([1]))  # overwrite id 5, the frame of step 2, while step 5's own frame stays
    assert storage.keys[step_5] == -1
    check_every_stored_transition(storage, streams)


@pytest.mark.parametrize("change", ["an overlap frame", "a first flag"])
def test_a_chunk_that_only_nearly_repeats_a_stored_tail_is_stored_whole(change):
    """Linking to a stored tail must rebuild exactly the stacks the chunk describes, or not happen at all."""
    streams = FakeStreams(1, stack=4, n=1, steps=4, seed=0)
    streams.first[:, 1:] = False
    storage = FrameStackStorage(100, stack=4)
    storage.add(streams.chunk([0]))  # steps -3..4
    chunk = streams.chunk([0])  # steps 1..8; its first 4 frames (steps 1..4) repeat the stored tail
    if change == "an overlap frame":
        chunk["frames"][0, 0] = encode_frame(0, 99)  # step 1's frame, in the stack of step 4
        expected = [99, 2, 3, 4]
    else:
        chunk["first"][2, 0] = True  # an episode now starts at step 3
        expected = [3, 3, 3, 4]
    written = storage.frames_written
    inserted = storage.add(chunk)
    assert storage.frames_written == written + len(chunk["frames"])
    _, steps = decode_frames(storage.get(inserted.slots[:1])["obs"])
    np.testing.assert_array_equal(steps, [expected])


def test_invalid_transitions_get_no_slot_but_their_frames_serve_their_neighbours():
    """Transitions marked invalid (e.g. a window cut by a time limit) are not stored; every frame still is, once."""
    rng = np.random.default_rng(0)
    streams = FakeStreams(3, stack=4, n=3, steps=8, seed=5, max_episode_length=5)
    storage = FrameStackStorage(10_000, stack=4)
    expected = set()
    for _ in range(20):
        chunk = streams.chunk([0, 1, 2], with_priority=True)
        chunk["valid"] = rng.random(chunk["reward"].shape) < 0.6
        assert storage.count_items(chunk) == np.count_nonzero(chunk["valid"])
        inserted = storage.add(chunk)
        np.testing.assert_array_equal(inserted.priorities, chunk["priority"][chunk["valid"]])
        np.testing.assert_array_equal(storage.get(inserted.slots)["action"], chunk["action"][chunk["valid"]])
        expected |= set(zip(chunk["reward"][chunk["valid"]].astype(int).tolist(),
                            chunk["action"][chunk["valid"]].tolist()))
        check_every_stored_transition(storage, streams)
    stored = storage.get(np.flatnonzero(storage.keys >= 0))
    assert set(zip(stored["reward"].astype(int).tolist(), stored["action"].tolist())) == expected
    assert storage.size == len(expected)
    assert storage.frames_written == 20 * 3 * 8 + 3 * (3 + 3)  # continued streams: each frame once, as before
    with pytest.raises(ValueError, match="valid"):
        storage.add({**streams.chunk([0]), "valid": np.ones(3, bool)})


def test_atari_frames_cost_about_one_frame_per_transition():
    streams = FakeStreams(4, stack=4, n=3, steps=20, seed=4)
    storage = FrameStackStorage(2_000, stack=4)
    for _ in range(60):
        chunk = streams.chunk([0, 1, 2, 3])
        chunk["frames"] = np.tile(chunk["frames"], (1, 1, 42, 28))  # 84 x 84 frames, still encoding (stream, step)
        storage.add(chunk)
    frame_bytes = 84 * 84
    assert storage.nbytes / storage.size <= 1.1 * frame_bytes


def test_a_chunk_must_hold_context_and_bootstrap_frames():
    storage = FrameStackStorage(100, stack=4)
    chunk = FakeStreams(1, stack=4, n=1, steps=5, seed=0).chunk([0])
    with pytest.raises(ValueError, match="context"):
        storage.add({**chunk, "frames": chunk["frames"][:-1], "first": chunk["first"][:-1]})
    with pytest.raises(ValueError, match="B"):
        storage.add({**chunk, "action": chunk["action"][:, :0]})


@pytest.mark.parametrize("capacity", [1000, 1025])  # a sum tree's leaves round up to a power of two
def test_bytes_per_transition_covers_what_a_full_prioritized_replay_holds(capacity):
    tree = SumTree(capacity)
    tree_bytes = sum(a.nbytes for a in vars(tree).values() if isinstance(a, np.ndarray))
    ring = RingStorage(capacity)
    ring.add({"obs": np.zeros((2, 4), np.float32), "action": np.zeros(2, np.int64), "reward": np.zeros(2, np.float32),
              "discount": np.zeros(2, np.float32), "next_obs": np.zeros((2, 4), np.float32)})
    held = (ring.nbytes + tree_bytes) / capacity
    assert held <= bytes_per_transition((4,), np.float32) <= 1.5 * held
    frames = FrameStackStorage(capacity, stack=4)
    T, B = 4, 2
    frames.add({"frames": np.zeros((3 + T + 1, B, 84, 84), np.uint8), "first": np.ones((3 + T + 1, B), bool),
                "action": np.zeros((T, B), np.int64), "reward": np.zeros((T, B), np.float32),
                "discount": np.zeros((T, B), np.float32)})
    held = (frames.nbytes + tree_bytes) / capacity
    assert held <= bytes_per_transition((4, 84, 84), np.uint8, frame_stack=4) <= 1.05 * held
