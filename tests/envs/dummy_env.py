"""A tiny deterministic env for tests, made through make_env as "tests.envs.dummy_env:CountdownEnv"."""

import gymnasium as gym
import numpy as np


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
