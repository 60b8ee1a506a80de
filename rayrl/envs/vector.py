"""VectorEnv: B envs stepped in one process, with same-step autoreset and episode statistics.

A plain loop over the envs: CartPole's step costs a few microseconds, far less than a message to a subprocess, and
Atari's emulator is the cost whatever the loop. A rollout worker scales out with more Ray actors, not more processes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from rayrl.envs.atari import AtariOptions
from rayrl.envs.make import make_env


class VectorStep(NamedTuple):
    """What :meth:`VectorEnv.step` returns."""

    obs: np.ndarray
    """[B, *obs_shape] the next observations; for an env whose episode just ended, the first of its next episode."""
    rewards: np.ndarray
    """[B] float32 this step's rewards."""
    terminated: np.ndarray
    """[B] bool: the episode reached a terminal state at this step."""
    truncated: np.ndarray
    """[B] bool: the episode was cut by a time limit at this step."""
    final_obs: dict[int, np.ndarray]
    """env index -> the last observation of its episode, for each env truncated and not terminated at this step."""


class VectorEnv:
    """Steps `num_envs` envs as one, batching observations, rewards and done flags on a leading axis B.

    Same-step autoreset: when an env's episode ends at a step, that env is reset within the same `step()` call and
    the observation returned for it is already the first one of its next episode. `terminated[i]` or `truncated[i]`
    tells that `rewards[i]` was the last reward of an episode. The final observation of an episode cut by a time
    limit (truncated, not terminated) is handed out beside them, in `final_obs`, because its value is what a
    learner bootstraps from there (Pardo et al. 2018, "Time Limits in Reinforcement Learning"); a terminated
    episode's final observation has no value and is dropped.

    Each `reset()` and `step()` returns new arrays, which the caller may keep (e.g. in a rollout buffer); nothing is
    overwritten later. The observation array is allocated once per call and each env's observation written into it,
    which costs less than filling a preallocated buffer and copying it out. Rewards are float32; observations have
    the single observation space's dtype (float32 for CartPole, uint8 for Atari), so no conversion happens.

    The real return and length of each finished episode (from RecordEpisodeStatistics' `info["episode"]`, which
    make_env puts on every env) are collected until the caller drains them with `pop_episode_stats()`.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        if not env_fns:
            raise ValueError("VectorEnv needs at least one env")
        self.envs = [env_fn() for env_fn in env_fns]
        self.num_envs = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        for index, env in enumerate(self.envs):
            space = env.observation_space
            if space.shape is None or (space.shape, space.dtype) != (
                self.single_observation_space.shape,
                self.single_observation_space.dtype,
            ):
                raise ValueError(
                    f"env {index} observes {space}, env 0 observes {self.single_observation_space}: "
                    "a VectorEnv needs array observations of one shape and dtype"
                )
        self._obs_shape = (self.num_envs, *self.single_observation_space.shape)
        self._obs_dtype = self.single_observation_space.dtype
        # Discrete actions are stepped as Python ints: the cheapest type for envs that check or index with them.
        self._actions_as_ints = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._episode_returns: list[float] = []
        self._episode_lengths: list[int] = []

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Resets every env (env i with seed + i when a seed is given); returns the observations [B, *obs_shape]."""
        obs = np.empty(self._obs_shape, self._obs_dtype)
        for index, env in enumerate(self.envs):
            obs[index], _ = env.reset(seed=None if seed is None else seed + index)
        return obs

    def step(self, actions: np.ndarray) -> VectorStep:
        """Steps every env with its action (actions [B, *action_shape]); resets those whose episode ended."""
        if self._actions_as_ints:
            actions = np.asarray(actions).tolist()
        obs = np.empty(self._obs_shape, self._obs_dtype)
        rewards = [0.0] * self.num_envs
        terminated = [False] * self.num_envs
        truncated = [False] * self.num_envs
        final_obs = {}
        for index, env in enumerate(self.envs):
            obs_i, rewards[index], terminated[index], truncated[index], info = env.step(actions[index])
            if terminated[index] or truncated[index]:
                self._record_episode(info)
                if not terminated[index]:
                    final_obs[index] = np.array(obs_i, self._obs_dtype)  # a copy: the env may reuse its array
                obs_i, _ = env.reset()
            obs[index] = obs_i
        return VectorStep(
            obs,
            np.array(rewards, dtype=np.float32),
            np.array(terminated, dtype=bool),
            np.array(truncated, dtype=bool),
            final_obs,
        )

    def _record_episode(self, info: dict[str, Any]) -> None:
        # Atari training episodes also end at a life loss; only whole games carry "episode".
        episode = info.get("episode")
        if episode is not None:
            self._episode_returns.append(float(episode["r"]))
            self._episode_lengths.append(int(episode["l"]))

    def pop_episode_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """The (returns float64 [N], lengths int64 [N]) of the episodes finished since the last call; forgets them."""
        returns = np.array(self._episode_returns, dtype=np.float64)
        lengths = np.array(self._episode_lengths, dtype=np.int64)
        self._episode_returns.clear()
        self._episode_lengths.clear()
        return returns, lengths

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_vector_env(
    env_id: str,
    num_envs: int,
    *,
    seed: int | None,
    training: bool = True,
    env_kwargs: dict[str, Any] | None = None,
    atari: AtariOptions | None = None,
) -> VectorEnv:
    """`num_envs` copies of make_env(env_id, ...) in one VectorEnv; env i is seeded with seed + i (unseeded if None)."""
    return VectorEnv(
        [
            functools.partial(
                make_env,
                env_id,
                seed=None if seed is None else seed + index,
                training=training,
                env_kwargs=env_kwargs,
                atari=atari,
            )
            for index in range(num_envs)
        ]
    )
