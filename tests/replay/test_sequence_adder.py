"""SequenceAdder against a per-episode ground truth: calls of any length, time limits, terminations, frame stacks."""

import numpy as np
import pytest

from rayrl.errors import RayrlError
from rayrl.replay import SequenceAdder

from .sequence_streams import EnvStreams, call_lengths, decode_frames, expected_sequences


def assert_batches_equal(got: dict, expected: dict | None, call: int) -> None:
    if expected is None:
        assert all(len(value) == 0 for value in got.values()), f"call {call}: nothing should be complete"
        return
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, (call, name)
        np.testing.assert_array_equal(got[name], value, f"call {call}: {name}")


@pytest.mark.parametrize("L, period, frame_stack", [(5, 2, None), (4, 4, None), (3, 1, 4), (6, 3, 4), (5, 5, 2),
                                                    (4, 2, 1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_sequences_match_the_per_episode_ground_truth(L, period, frame_stack, seed):
    rng = np.random.default_rng(seed)
    streams = EnvStreams(3, 120, frame_stack=frame_stack, seed=seed, episode_lengths=(1, 3 * L))
    lengths = call_lengths(rng, streams.num_steps, 2 * L)
    assert min(lengths) < L
    adder = SequenceAdder(3, L, period, frame_stack)
    expected = expected_sequences(streams, lengths, L, period)
    for call, (steps, want) in enumerate(zip(streams.calls(lengths), expected)):
        assert_batches_equal(adder.add(steps), want, call)
    assert sum(len(want["mask"]) for want in expected if want is not None) > 20


def test_time_limits_terminations_and_padding_by_hand():
    """One env, L = 4, period 2: a 5-step episode cut by a time limit, then a 2-step one that terminates."""
    streams = EnvStreams(1, 7, frame_stack=None, seed=0)
    streams.first[:] = False
    streams.first[[0, 5, 7]] = True
    streams.terminated[:], streams.truncated[:] = False, False
    streams.truncated[4], streams.terminated[6] = True, True
    streams.prev_action = np.where(streams.first[:7], 0, np.roll(streams.action, 1, axis=0))
    adder = SequenceAdder(1, 4, 2)
    out = adder.add(streams.calls([7])[0])
    steps = out["obs"][..., 1].astype(int)
    is_final = out["obs"][..., 2].astype(bool)
    # Starts 0, 2, 4 of the first episode (its extra step 5 holds the final obs), start 0 of the second.
    np.testing.assert_array_equal(out["mask"], [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(steps[out["mask"]].reshape(-1), [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 5, 6])
    np.testing.assert_array_equal(is_final[out["mask"]].reshape(-1), [0] * 7 + [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(out["action"][1], [*streams.action[2:5, 0], 0])
    np.testing.assert_array_equal(out["prev_action"][2, :2], [streams.action[3, 0], streams.action[4, 0]])
    np.testing.assert_array_equal(out["terminated"][3], [False, True, False, False])
    np.testing.assert_array_equal(out["state_h"], streams.state_h[[0, 2, 4, 5], 0])


def test_frames_hold_the_first_stack_then_one_frame_a_step():
    streams = EnvStreams(2, 40, frame_stack=4, seed=3, episode_lengths=(8, 20))
    adder = SequenceAdder(2, 6, 3, frame_stack=4)
    for steps in streams.calls([13, 1, 26]):
        out = adder.add(steps)
        for frames, mask in zip(out["frames"], out["mask"]):
            real = decode_frames(frames[3:][mask])
            assert np.all(np.diff(real[:, 1]) == 1)  # one frame a step, consecutive
            stack = streams.observation(int(real[0, 0]), int(real[0, 1]))
            np.testing.assert_array_equal(frames[:4], stack)  # frames[t : t + 4] is step t's stack
            assert not frames[3:][~mask].any()


def test_memory_is_bounded_by_one_sequence_per_env():
    streams = EnvStreams(2, 400, frame_stack=None, seed=4, episode_lengths=(300, 400))
    adder = SequenceAdder(2, 10, 5)
    for steps in streams.calls([7] * 57 + [1]):
        adder.add(steps)
        for episode in adder._episodes:
            if episode is not None:
                assert len(episode.steps["action"]) < 10 and len(episode.starts) <= 2


def test_an_empty_batch_has_every_field():
    streams = EnvStreams(2, 3, frame_stack=4, seed=0, episode_lengths=(50, 50), lstm_size=7)
    out = SequenceAdder(2, 8, 4, frame_stack=4).add(streams.calls([3])[0])
    shapes = {name: value.shape for name, value in out.items()}
    assert shapes == {"frames": (0, 11, 2, 3), "action": (0, 8), "reward": (0, 8), "terminated": (0, 8),
                      "prev_action": (0, 8), "prev_reward": (0, 8), "mask": (0, 8), "state_h": (0, 7),
                      "state_c": (0, 7)}


def test_bad_calls_raise_one_clear_line():
    streams = EnvStreams(2, 20, frame_stack=None, seed=5, episode_lengths=(2, 4))
    steps = streams.calls([20])[0]
    assert len(steps["final_at"]) > 0
    with pytest.raises(RayrlError, match="first must be True"):
        SequenceAdder(2, 4, 2).add({**steps, "first": np.zeros_like(steps["first"])})
    with pytest.raises(RayrlError, match="final_obs and final_at"):
        SequenceAdder(2, 4, 2).add({**steps, "final_at": steps["final_at"][1:], "final_obs": steps["final_obs"][1:]})
    with pytest.raises(RayrlError, match=r"B = 3"):
        SequenceAdder(3, 4, 2).add(steps)
    with pytest.raises(RayrlError, match="missing"):
        SequenceAdder(2, 4, 2).add({k: v for k, v in steps.items() if k != "state_c"})
    with pytest.raises(RayrlError, match="frame stacks"):
        SequenceAdder(2, 4, 2, frame_stack=4).add(steps)
    with pytest.raises(RayrlError, match="period"):
        SequenceAdder(2, 4, 5)
