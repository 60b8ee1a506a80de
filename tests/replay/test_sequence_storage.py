"""SequenceStorage: items read back exactly under overlap, new streams, eviction and wrap-around; frames stored once.

RingStorage holds vector-observation sequences as they are.
"""

import numpy as np
import pytest

from rayrl.errors import RayrlError
from rayrl.replay import RingStorage, SequenceAdder, SequenceStorage

from .sequence_streams import EnvStreams, call_lengths, decode_frames, encode_frame


def adder_batches(streams: EnvStreams, L: int, period: int, lengths: list[int]) -> list[dict[str, np.ndarray]]:
    """The non-empty batches a worker's adder makes from ``streams`` cut into calls of ``lengths``."""
    adder = SequenceAdder(streams.num_envs, L, period, streams.frame_stack)
    batches = [adder.add(steps) for steps in streams.calls(lengths)]
    return [batch for batch in batches if len(batch["mask"])]


def rows(batch: dict[str, np.ndarray], index) -> dict[str, np.ndarray]:
    return {name: value[index] for name, value in batch.items()}


def assert_items_equal(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, name)


def stored_items(storage) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    live = np.flatnonzero(storage.keys >= 0)
    assert len(live) == storage.size
    return storage.keys[live], storage.get(live)


def real_steps(items: dict[str, np.ndarray], context: int) -> set[tuple[int, int, int]]:
    """The distinct (env, step, is_final) of the steps the items hold."""
    return {tuple(frame) for frames, mask in zip(items["frames"], items["mask"])
            for frame in decode_frames(frames[context:][mask]).tolist()}


def test_continued_streams_read_back_exactly_with_each_frame_stored_once():
    streams = EnvStreams(4, 300, frame_stack=4, seed=0, episode_lengths=(1, 40))
    storage = SequenceStorage(10_000, stack=4, period=3)
    inserted = {}
    episode_starts = 0
    for batch in adder_batches(streams, 6, 3, [7, 1, 13, 6, 2, 20, 11] * 5):
        keys = storage.add(batch).keys
        inserted.update((key, rows(batch, row)) for row, key in enumerate(keys.tolist()))
        frames = decode_frames(batch["frames"])
        episode_starts += int(np.count_nonzero(np.all(frames[:, 2] == frames[:, 3], axis=1)))
        live_keys, items = stored_items(storage)
        for row, key in enumerate(live_keys.tolist()):
            assert_items_equal(rows(items, row), inserted[key])
    assert storage.size == len(inserted) > 300
    # Each step's frame once, plus the 3 context frames of each episode's first sequence (the reset stack's).
    assert storage.frames_written == len(real_steps(storage.get(np.arange(storage.size)), 3)) + 3 * episode_starts


def test_a_sequence_whose_predecessor_is_missing_is_stored_whole():
    streams = EnvStreams(1, 200, frame_stack=4, seed=1, episode_lengths=(200, 200))
    batches = adder_batches(streams, 6, 3, [3] * 66 + [2])[:8]  # one sequence a call once the first is complete
    assert all(len(batch["mask"]) == 1 for batch in batches)
    storage = SequenceStorage(100, stack=4, period=3)
    written = []
    for index, batch in enumerate(batches):
        if index != 4:  # the fifth went to another shard
            storage.add(batch)
            written.append(storage.frames_written)
    np.testing.assert_array_equal(np.diff(written), [3, 3, 3, 9, 3, 3])  # C + L = 9 frames when not continued
    _, items = stored_items(storage)
    assert_items_equal(items, {name: np.concatenate([batch[name] for i, batch in enumerate(batches) if i != 4])
                               for name in items})


def test_items_never_show_a_foreign_frame_after_many_wrap_arounds():
    """A small ring, streams that are continued, skipped (sent to another shard) and interleaved: after each add,
    every stored item reads back as inserted, and exactly the items whose slot was not reused and whose oldest frame
    is still in the ring are stored; the Inserted records tell a sampler exactly that."""
    rng = np.random.default_rng(0)
    streams = EnvStreams(6, 600, frame_stack=4, seed=2, episode_lengths=(1, 30))
    storage = SequenceStorage(12, stack=4, period=3)
    inserted, oldest_frame_id, mirrored = {}, {}, {}  # mirrored: slot -> key, as a sampler sees it
    frame_evictions = 0
    for batch in adder_batches(streams, 6, 3, call_lengths(rng, 600, 8)):
        kept = rng.random(len(batch["mask"])) < 0.9
        for chunk in np.array_split(np.flatnonzero(kept), max(1, int(kept.sum()) // 2)):
            if not len(chunk):
                continue
            record = storage.add(rows(batch, chunk))
            frame_evictions += len(record.removed)
            for slot in record.removed.tolist():
                del mirrored[slot]
            mirrored.update(zip(record.slots.tolist(), record.keys.tolist()))
            inserted.update((key, rows(batch, row)) for row, key in zip(chunk, record.keys.tolist()))
            # White-box oracle: a frame's id follows from its ring position and the number of frames written.
            first_position = storage._positions[record.slots, 0]
            written, capacity = storage.frames_written, storage.frame_capacity
            first_ids = first_position + capacity * ((written - 1 - first_position) // capacity)
            oldest_frame_id.update(zip(record.keys.tolist(), first_ids.tolist()))
            for key in [key for key in oldest_frame_id if key < max(inserted) + 1 - storage.capacity]:
                del oldest_frame_id[key]  # its slot was reused
            expected = {key for key, oldest in oldest_frame_id.items() if oldest >= written - capacity}
            live_keys, items = stored_items(storage)
            assert set(live_keys.tolist()) == expected == set(mirrored.values())
            for row, key in enumerate(live_keys.tolist()):
                assert_items_equal(rows(items, row), inserted[key])
    assert storage.frames_written > 10 * storage.frame_capacity
    assert frame_evictions > 0  # items that continue nothing cost more frames: the ring evicts before the slots
    assert storage.size > 0.5 * storage.capacity


def hand_item(env: int, real_steps: int, L: int = 4, stack: int = 2) -> dict[str, np.ndarray]:
    """One sequence of ``env``'s episode start: ``stack - 1 + real_steps`` real frames, then padding."""
    frames = np.zeros((stack - 1 + L, 2, 3), np.uint8)
    for position in range(stack - 1 + real_steps):
        frames[position] = encode_frame(env, max(position - stack + 1, 0), final=False)
    return {"frames": frames[None], "mask": (np.arange(L) < real_steps)[None], "action": np.full((1, L), env)}


def test_an_item_goes_exactly_when_the_ring_overwrites_its_oldest_frame():
    storage = SequenceStorage(10, stack=2, period=2)  # a ring of 9 * 2 + 1 + 4 = 23 frames
    first = storage.add(hand_item(0, 4))  # ids 0..4
    for env in (1, 2, 3):
        storage.add(hand_item(env, 4))  # ids 5..19
    assert storage.frame_capacity == 23
    storage.add(hand_item(4, 2))  # ids 20..22: the ring is full, nothing overwritten
    assert storage.keys[first.slots[0]] == 0 and storage.size == 5
    record = storage.add(hand_item(5, 1))  # ids 23, 24 overwrite ids 0 and 1: the first item's
    np.testing.assert_array_equal(record.removed, first.slots)
    assert storage.keys[first.slots[0]] == -1 and storage.size == 5
    _, items = stored_items(storage)
    np.testing.assert_array_equal(items["action"][:, 0], [1, 2, 3, 4, 5])
    assert_items_equal(storage.get(record.slots), hand_item(5, 1))


def test_frames_cost_about_one_frame_per_stored_step():
    """R2D2's Atari items (L 80, period 40, stacks of 4 84x84 frames, LSTM 512), past a wrap-around: the storage's
    bytes per distinct step it holds stay within 1.2 frames although consecutive items share 43 frames."""
    streams = EnvStreams(4, 640, frame_stack=4, seed=3, episode_lengths=(150, 400), lstm_size=512,
                         frame_shape=(84, 84))
    storage = SequenceStorage(40, stack=4, period=40)
    for batch in adder_batches(streams, 80, 40, [40] * 16):
        storage.add(batch)
    assert storage.frames_written > 1.3 * storage.frame_capacity
    _, items = stored_items(storage)
    bytes_per_step = storage.nbytes / len(real_steps(items, 3))
    assert bytes_per_step <= 1.2 * 84 * 84
    assert storage.nbytes < 1.05 * storage.frame_capacity * 84 * 84 + storage.capacity * 7_000  # frames once


def test_vector_sequences_round_trip_through_ring_storage():
    streams = EnvStreams(3, 90, frame_stack=None, seed=4, episode_lengths=(1, 20))
    storage = RingStorage(25)
    inserted = {}
    for batch in adder_batches(streams, 5, 2, [9] * 10):
        record = storage.add(batch)
        inserted.update((key, rows(batch, row)) for row, key in enumerate(record.keys.tolist()))
    assert storage.size == 25 and len(inserted) > 25
    live_keys, items = stored_items(storage)
    for row, key in enumerate(live_keys.tolist()):
        assert_items_equal(rows(items, row), inserted[key])
    assert items["obs"].shape == (25, 5, 3) and items["state_h"].shape == (25, 3)


def test_bad_batches_raise_one_clear_line():
    storage = SequenceStorage(4, stack=2, period=2)
    item = hand_item(0, 4)
    with pytest.raises(RayrlError, match="mask"):
        storage.add({"frames": item["frames"], "action": item["action"]})
    with pytest.raises(RayrlError, match="mask must be True"):
        storage.add({**item, "mask": np.array([[True, False, True, False]])})
    with pytest.raises(RayrlError, match="C = 1"):
        storage.add({**item, "frames": item["frames"][:, 1:]})
    with pytest.raises(RayrlError, match="1 to 4"):
        storage.add({name: np.repeat(value, 5, axis=0) for name, value in item.items()})
    storage.add(item)
    with pytest.raises(RayrlError, match="differ from the stored"):
        storage.add({"frames": item["frames"], "mask": item["mask"]})
    with pytest.raises(RayrlError, match="frame ring"):  # 2 items of 5 frames, a ring of 2 + 5
        SequenceStorage(2, stack=2, period=2).add({name: np.repeat(value, 2, axis=0) for name, value in item.items()})
