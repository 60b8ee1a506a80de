"""Env streams whose frames spell out (stream, step), so a test can check every frame of every rebuilt stack.

A stream's step s shows a frame whose pixels encode its stream and s; episodes start at random steps. `chunk()`
produces exactly what a rollout worker sends to FrameStackStorage, and `expected_stack()` is the ground truth,
written like gymnasium's FrameStackObservation with "reset" padding: the last S frames of the episode, the
episode's first frame repeated when fewer exist.
"""

from __future__ import annotations

import numpy as np

FRAME_SHAPE = (2, 3)


def encode_frame(stream: int, step: int) -> np.ndarray:
    frame = np.zeros(FRAME_SHAPE, np.uint8)
    frame[0] = (stream + 1, step // 256, step % 256)  # 0 in pixel (0, 0) marks a context frame that is never read
    return frame


def decode_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(stream, step)`` of each frame in ``[..., H, W]``."""
    return frames[..., 0, 0].astype(np.int64) - 1, frames[..., 0, 1].astype(np.int64) * 256 + frames[..., 0, 2]


class FakeStreams:
    """``num_streams`` endless env streams, each sent to replay in chunks of ``steps`` transitions."""

    def __init__(self, num_streams: int, *, stack: int, n: int, steps: int, seed: int, max_episode_length: int = 12,
                 horizon: int = 20_000):
        rng = np.random.default_rng(seed)
        self.stack, self.n, self.steps = stack, n, steps
        self.first = np.zeros((num_streams, horizon), bool)
        for stream in range(num_streams):
            starts = np.cumsum(rng.integers(1, max_episode_length + 1, size=horizon))
            self.first[stream, 0] = True
            self.first[stream, starts[starts < horizon]] = True
        self.episode_start = np.maximum.accumulate(np.where(self.first, np.arange(horizon), 0), axis=1)
        self.next_step = np.zeros(num_streams, np.int64)  # the first transition step of each stream's next chunk

    def chunk(self, streams: list[int], with_priority: bool = False) -> dict[str, np.ndarray]:
        """The next chunk of each of ``streams`` (stacked along B), in FrameStackStorage's format."""
        context = self.stack - 1
        offsets = np.arange(-context, self.steps + self.n)
        frames = np.zeros((len(offsets), len(streams), *FRAME_SHAPE), np.uint8)
        first = np.zeros((len(offsets), len(streams)), bool)
        for column, stream in enumerate(streams):
            for row, step in enumerate(self.next_step[stream] + offsets):
                if step >= 0:
                    frames[row, column] = encode_frame(stream, step)
                    first[row, column] = self.first[stream, step]
        steps = self.next_step[streams][None, :] + np.arange(self.steps)[:, None]
        episode_ended = self.episode_start[np.asarray(streams)[None, :], steps + self.n] > steps
        chunk = {
            "frames": frames,
            "first": first,
            "action": steps,  # the step, to find the expected stacks
            "reward": np.broadcast_to(np.asarray(streams, np.float32), steps.shape).copy(),  # the stream
            "discount": np.where(episode_ended, 0.0, 0.99**self.n).astype(np.float32),
        }
        if with_priority:
            chunk["priority"] = (1.0 + steps % 7).astype(np.float64)
        self.next_step[streams] += self.steps
        return chunk

    def skip(self, stream: int) -> None:
        """A chunk of ``stream`` that went to another replay shard."""
        self.next_step[stream] += self.steps

    def expected_stack(self, stream: np.ndarray, newest_step: np.ndarray) -> np.ndarray:
        """``[N, S]`` steps of the frames in the stacks ending at ``newest_step``, oldest first."""
        steps = newest_step[:, None] + np.arange(-self.stack + 1, 1)[None, :]
        return np.maximum(steps, self.episode_start[stream, newest_step][:, None])


def assert_stacks_correct(batch: dict[str, np.ndarray], streams: FakeStreams) -> None:
    """Every frame of every ``obs`` and ``next_obs`` stack in ``batch`` is the one its transition should show."""
    stream = batch["reward"].astype(np.int64)
    step = batch["action"]
    for name, newest in (("obs", step), ("next_obs", step + streams.n)):
        frame_stream, frame_step = decode_frames(batch[name])
        np.testing.assert_array_equal(frame_stream, np.broadcast_to(stream[:, None], frame_stream.shape), name)
        np.testing.assert_array_equal(frame_step, streams.expected_stack(stream, newest), name)
