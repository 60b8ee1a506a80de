"""Env streams for R2D2's sequence replay, whose observations spell out (env, step), and the slow ground truth.

`EnvStreams` draws B envs' episodes of random lengths, each ending by termination, by a time limit (with a final
observation) or by both, or still running at the horizon, and cuts them into the calls a worker's `SequenceAdder`
gets. Vector observations are ``[env, step, is_final]``; frame-stacked ones are stacks of frames encoding the same,
stacked like gymnasium's FrameStackObservation ("reset" padding: an episode's first frame repeated).
`expected_sequences` is the ground truth, written per episode and per step from the preamble's definition.
"""

from __future__ import annotations

import numpy as np

FRAME_SHAPE = (2, 3)


def encode_frame(env: int, step: int, final: bool, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray:
    frame = np.zeros(shape, np.uint8)
    frame[0, :3] = (env + 1, step // 256, step % 256)  # 0 in pixel (0, 0): padding
    frame[1, 0] = final
    return frame


def decode_frames(frames: np.ndarray) -> np.ndarray:
    """``[..., 3]`` (env, step, is_final) of each frame in ``[..., H, W]``; env -1 on padding."""
    env = frames[..., 0, 0].astype(np.int64) - 1
    step = frames[..., 0, 1].astype(np.int64) * 256 + frames[..., 0, 2]
    return np.stack([env, step, frames[..., 1, 0].astype(np.int64)], axis=-1)


def call_lengths(rng: np.random.Generator, total: int, longest: int) -> list[int]:
    """Random steps per call, 1 to ``longest``, ``total`` in all."""
    lengths = []
    while sum(lengths) < total:
        lengths.append(int(min(rng.integers(1, longest + 1), total - sum(lengths))))
    return lengths


class EnvStreams:
    """``num_envs`` envs stepped ``num_steps`` times, with everything a recurrent worker records."""

    def __init__(self, num_envs: int, num_steps: int, *, frame_stack: int | None, seed: int,
                 episode_lengths: tuple[int, int] = (1, 12), lstm_size: int = 3,
                 frame_shape: tuple[int, int] = FRAME_SHAPE):
        rng = np.random.default_rng(seed)
        self.num_envs, self.num_steps = num_envs, num_steps
        self.frame_stack, self.frame_shape = frame_stack, frame_shape
        B, T = num_envs, num_steps
        self.first = np.zeros((T + 1, B), bool)
        self.terminated = np.zeros((T, B), bool)
        self.truncated = np.zeros((T, B), bool)
        for env in range(B):
            start = 0
            while start <= T:
                self.first[start, env] = True
                end = start + int(rng.integers(episode_lengths[0], episode_lengths[1] + 1)) - 1
                if end < T:
                    how = rng.choice(["terminated", "truncated", "both"], p=[0.45, 0.45, 0.1])
                    self.terminated[end, env] = how != "truncated"
                    self.truncated[end, env] = how != "terminated"
                start = end + 1
        self.action = rng.integers(1, 6, (T, B))  # never 0, so padding and the final step's 0 stand out
        self.reward = rng.uniform(-1, 1, (T, B)).astype(np.float32)
        self.prev_action = np.where(self.first[:T], 0, np.concatenate([np.zeros((1, B), np.int64), self.action[:-1]]))
        self.prev_reward = np.where(self.first[:T], 0, np.concatenate([np.zeros((1, B), np.float32), self.reward[:-1]]))
        self.state_h = np.where(self.first[:T, :, None], 0, rng.standard_normal((T, B, lstm_size))).astype(np.float32)
        self.state_c = np.where(self.first[:T, :, None], 0, rng.standard_normal((T, B, lstm_size))).astype(np.float32)
        self.episode_start = np.maximum.accumulate(np.where(self.first, np.arange(T + 1)[:, None], 0), axis=0)

    def newest_frame(self, env: int, step: int, final: bool = False) -> np.ndarray:
        return encode_frame(env, step, final, self.frame_shape)

    def observation(self, env: int, step: int, final: bool = False) -> np.ndarray:
        """The observation before ``step`` (or, if ``final``, the one ``step - 1`` led to: its episode's last)."""
        if self.frame_stack is None:
            return np.array([env, step, final], np.float32)
        start = self.episode_start[step - 1 if final else step, env]
        steps = np.maximum(np.arange(step - self.frame_stack + 1, step + 1), start)
        return np.stack([self.newest_frame(env, s, final and s == step) for s in steps])

    def calls(self, lengths: list[int]) -> list[dict[str, np.ndarray]]:
        """The steps cut into consecutive calls of ``lengths`` steps (their sum must be ``num_steps``)."""
        assert sum(lengths) == self.num_steps
        obs = np.stack([np.stack([self.observation(env, t) for env in range(self.num_envs)])
                        for t in range(self.num_steps + 1)])
        calls, t0 = [], 0
        for length in lengths:
            t1 = t0 + length
            final_at = np.argwhere(self.truncated[t0:t1] & ~self.terminated[t0:t1])
            final_obs = [self.observation(b, t0 + t + 1, final=True) for t, b in final_at]
            calls.append({
                "obs": obs[t0 : t1 + 1], "first": self.first[t0 : t1 + 1],
                **{name: getattr(self, name)[t0:t1] for name in ("action", "reward", "terminated", "truncated",
                                                               "prev_action", "prev_reward", "state_h", "state_c")},
                "final_obs": np.array(final_obs).reshape(len(final_at), *obs.shape[2:]).astype(obs.dtype),
                "final_at": final_at.astype(np.int64).reshape(-1, 2),
            })
            t0 = t1
        return calls

    def episodes(self, env: int) -> list[tuple[int, int, bool, bool]]:
        """``(first step, steps seen, ended, time-limited)`` of each episode of ``env``."""
        ended = self.terminated[:, env] | self.truncated[:, env]
        starts = np.flatnonzero(self.first[: self.num_steps, env])
        out = []
        for start in starts:
            ends = np.flatnonzero(ended[start:])
            if len(ends):
                end = start + ends[0]
                time_limited = bool(self.truncated[end, env] and not self.terminated[end, env])
                out.append((int(start), int(ends[0]) + 1, True, time_limited))
            else:
                out.append((int(start), self.num_steps - int(start), False, False))
        return out


def expected_sequences(streams: EnvStreams, lengths: list[int], L: int, period: int) -> list[dict[str, np.ndarray]]:
    """What each call's ``add`` should return, built one sequence and one step at a time."""
    call_of_step = np.repeat(np.arange(len(lengths)), lengths)
    per_call = [[] for _ in lengths]
    for env in range(streams.num_envs):
        for first_step, seen, ended, time_limited in streams.episodes(env):
            steps = list(range(first_step, first_step + seen))  # global steps of the real steps seen
            extra = ended and time_limited  # one more step: the final observation
            for s in range(0, seen, period):
                if s + L <= seen:
                    done_at = first_step + s + L - 1
                elif ended:
                    done_at = first_step + seen - 1
                else:
                    continue  # still waiting for steps
                item = {name: [] for name in ("obs", "action", "reward", "terminated", "mask", "prev_action",
                                              "prev_reward")}
                for i in range(s, s + L):
                    if i < seen:
                        t = steps[i]
                        row = (streams.observation(env, t), streams.action[t, env], streams.reward[t, env],
                               streams.terminated[t, env], True, streams.prev_action[t, env],
                               streams.prev_reward[t, env])
                    elif i == seen and extra:
                        t = steps[-1]
                        row = (streams.observation(env, t + 1, final=True), 0, 0.0, False, True,
                               streams.action[t, env], streams.reward[t, env])
                    else:
                        row = (np.zeros_like(streams.observation(env, 0)), 0, 0.0, False, False, 0, 0.0)
                    for name, value in zip(item, row):
                        item[name].append(value)
                start = steps[s]
                sequence = {
                    "obs": np.array(item["obs"]),
                    "action": np.array(item["action"], np.int64),
                    "reward": np.array(item["reward"], np.float32),
                    "terminated": np.array(item["terminated"], bool),
                    "mask": np.array(item["mask"], bool),
                    "prev_action": np.array(item["prev_action"], np.int64),
                    "prev_reward": np.array(item["prev_reward"], np.float32),
                    "state_h": streams.state_h[start, env],
                    "state_c": streams.state_c[start, env],
                }
                if streams.frame_stack is not None:
                    stacks = sequence.pop("obs")
                    context = streams.observation(env, start)[:-1]
                    sequence["frames"] = np.concatenate([context, stacks[:, -1]])
                per_call[call_of_step[done_at]].append(((env, start), sequence))
    return [{name: np.stack([sequence[name] for _, sequence in sorted(items, key=lambda x: x[0])])
             for name in items[0][1]} if items else None for items in per_call]
