"""Tiny envs for tests, made through make_env as e.g. "tests.envs.dummy_env:CountdownEnv"."""

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FrameStackObservation


class CountdownEnv(gym.Env):
    """Episodes last exactly `episode_length` steps; the reward is the action taken.

    The observation is [steps taken in this episode, episodes started], so a reset observation is recognisable:
    [0, k] for the k-th episode. The last step is `terminated`, or `truncated` when `ends_by_truncation`.
    """

    def __init__(self, episode_length: int = 3, ends_by_truncation: bool = False, obs_size: int = 2):
        self.episode_length = episode_length
        self.ends_by_truncation = ends_by_truncation
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_size,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(10)
        self._steps = 0
        self._episodes = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, np.float32)
        obs[:2] = self._steps, self._episodes
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        self._episodes += 1
        return self._obs(), {}

    def step(self, action):
        self._steps += 1
        done = self._steps == self.episode_length
        return self._obs(), float(action), done and not self.ends_by_truncation, done and self.ends_by_truncation, {}


class FramesEnv(gym.Env):
    """2 x 3 uint8 frames: [episode, step in episode, 0] over 3 random bytes; episodes of 1 to `max_episode_length`
    steps end at random by termination or by truncation (a time limit). The reward is the action taken."""

    def __init__(self, max_episode_length: int = 6):
        self.max_episode_length = max_episode_length
        self.observation_space = gym.spaces.Box(0, 255, shape=(2, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self._episodes = 0

    def _frame(self) -> np.ndarray:
        frame = np.zeros((2, 3), np.uint8)
        frame[0, :2] = self._episodes % 256, self._steps
        frame[1] = self.np_random.integers(256, size=3)
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._episodes += 1
        self._steps = 0
        self._length = int(self.np_random.integers(1, self.max_episode_length + 1))
        return self._frame(), {}

    def step(self, action):
        self._steps += 1
        done = self._steps == self._length
        by_time_limit = done and bool(self.np_random.integers(2))
        return self._frame(), float(action), done and not by_time_limit, by_time_limit, {}


class StackedFramesEnv(FrameStackObservation):
    """FramesEnv behind gymnasium's FrameStackObservation, as Atari's frames are: observations [stack, 2, 3]."""

    def __init__(self, stack: int = 4, max_episode_length: int = 6, padding_type: str = "reset"):
        super().__init__(FramesEnv(max_episode_length), stack, padding_type=padding_type)


class TimeLimitOnlyEnv(gym.Env):
    """One state forever: reward 1 at every step, never terminated, truncated after `time_limit` steps.

    Its true value is 1 / (1 - gamma) from every step; a learner that takes the time limit for a terminal state
    learns the truncated sums instead (Pardo et al. 2018).
    """

    def __init__(self, time_limit: int = 5):
        self.time_limit = time_limit
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        return np.ones(2, np.float32), {}

    def step(self, action):
        self._steps += 1
        return np.ones(2, np.float32), 1.0, False, self._steps == self.time_limit, {}
