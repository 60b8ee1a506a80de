"""The one env loop every worker runs: B vectorised envs, a policy core that picks their actions, one weights puller.

A worker is a *core* plus a *writer*. The core (:class:`~rayrl.core.PolicyCore`, after Acme's actor cores with their
``init`` / ``select_action`` / ``get_extras``; here ``select_action`` returns the extras) picks actions;
:class:`EnvWorker` steps the envs with the core's actions and records the steps; its subclass
chooses the core and turns the recorded steps into what the worker sends on (a rollout, n-step transitions, replay
sequences). One :meth:`EnvWorker.sample` call, ``rollout_length`` = T steps of B envs, records time-major::

    obs         [T + 1, B, *obs_shape]  the observation before each step; obs[T] is the one after the last step
    first       [T + 1, B] bool         obs[t] starts an episode (same-step autoreset: the env reset in step t - 1)
    action      [T, B, *action_shape]   the core's actions (continuous ones before clipping to the bounds)
    reward      [T, B] float32          the rewards after the env's training transforms (e.g. Atari clipping)
    terminated  [T, B] bool, truncated [T, B] bool
    final_obs   [K, *obs_shape], final_at [K, 2] int64   the last observation of each episode a time limit cut,
                                        and its (t, b): obs[t + 1] already starts the next episode
    ...         [T, B, ...]             the core's extras (an actor-critic's ``behaviour`` parameters)

and with a recurrent core also ``prev_action`` and ``prev_reward`` [T, B] (the core's extra inputs, zero where an
episode starts) and its state before each step, ``state_h`` and ``state_c`` [T, B, H] (reset where an episode
starts). Each call continues the envs where the last one left them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rayrl.core import Batch, EpisodeStats, PolicyCore, PublishedWeights
from rayrl.envs import AtariOptions, make_vector_env
from rayrl.envs.vector import VectorEnv
from rayrl.models.spaces import action_bounds

CoreState = dict[str, np.ndarray]
"""A recurrent core's state, one row per env (``state_h``, ``state_c``); empty for feed-forward cores."""


def make_envs(env: str, num_envs: int, *, seed: int, env_kwargs: dict[str, Any] | None,
              atari: AtariOptions | None = None) -> VectorEnv:
    """A worker's training envs; also seeds torch (the model's first weights) and limits it to one thread, since
    workers are many and small and intra-op threads would fight over the cores."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    return make_vector_env(env, num_envs, seed=seed, training=True, env_kwargs=env_kwargs, atari=atari)


class EnvWorker:
    """Steps ``envs`` with ``core``'s actions for ``rollout_length`` steps per :meth:`sample` call; a subclass
    chooses the core and sets (or overrides) :meth:`write`, which turns the recorded steps into the call's output.

    Plain Python: a plan makes an actor of a subclass with ``ray.remote(cls)``; tests use it directly.
    """

    def __init__(self, *, envs: VectorEnv, core: PolicyCore, rollout_length: int, seed: int,
                 pull_period_steps: int = 0):
        self.envs = envs
        self.core = core
        self.model = core.model
        self.model.eval()
        self.bounds = action_bounds(envs.single_action_space)
        self.rollout_length = rollout_length
        self.pull_period_steps = pull_period_steps
        self.policy_version = -1  # pulls the learner's version 0 on the first call
        self.env_steps = 0
        self._steps_at_last_pull = 0
        B = envs.num_envs
        self.obs = envs.reset(seed=seed)
        self.first = np.ones(B, bool)
        self._initial_state = core.initial_state(B)
        self.state = {name: value.copy() for name, value in self._initial_state.items()}
        self.recurrent = bool(self.state)
        self._prev = {"prev_action": np.zeros((B,) + envs.single_action_space.shape, self._action_dtype()),
                      "prev_reward": np.zeros(B, np.float32)}

    def sample(self, weights: PublishedWeights | None = None) -> tuple[Batch, EpisodeStats]:
        """Pull ``weights`` if newer and the pull period has elapsed, step the envs ``rollout_length`` times,
        return the written output and the episodes that finished."""
        self.maybe_pull(weights)
        steps = self.run(self.rollout_length)
        returns, lengths = self.envs.pop_episode_stats()
        return self.write(steps), EpisodeStats(returns, lengths, self.rollout_length * self.envs.num_envs,
                                               self.policy_version)

    def write(self, steps: Batch) -> Batch:
        """The call's output from its recorded steps (the module docstring's fields); the steps themselves here."""
        return steps

    def maybe_pull(self, weights: PublishedWeights | None) -> None:
        """Load ``weights`` if they are newer than the policy's and the pull period has elapsed."""
        if weights is None or weights.version <= self.policy_version:
            return
        if self.policy_version >= 0 and self.env_steps - self._steps_at_last_pull < self.pull_period_steps:
            return
        state = {k: torch.tensor(v) for k, v in weights.fetch().items()}  # copies the read-only arrays
        self.model.load_state_dict(state)
        self.policy_version = weights.version
        self._steps_at_last_pull = self.env_steps

    def run(self, num_steps: int) -> Batch:
        """Step the envs ``num_steps`` times; the recorded steps (module docstring)."""
        T, B = num_steps, self.envs.num_envs
        steps = {"obs": np.empty((T + 1, B) + self.obs.shape[1:], self.obs.dtype),
                 "first": np.empty((T + 1, B), bool),
                 "action": np.empty((T, B) + self.envs.single_action_space.shape, self._action_dtype()),
                 "reward": np.empty((T, B), np.float32),
                 "terminated": np.empty((T, B), bool), "truncated": np.empty((T, B), bool)}
        final_obs, final_at = [], []
        with torch.inference_mode():
            for t in range(T):
                steps["obs"][t], steps["first"][t] = self.obs, self.first
                inputs = {"obs": self.obs}
                if self.recurrent:
                    self._reset_where_first()
                    inputs.update(self._prev)
                    self._record(steps, t, T, {**self._prev, **self.state})
                action, extras, self.state = self.core.select_action(inputs, self.state, self.env_steps + t * B)
                steps["action"][t] = action
                self._record(steps, t, T, extras)
                env_action = np.clip(action, *self.bounds) if self.bounds else action
                self.obs, steps["reward"][t], steps["terminated"][t], steps["truncated"][t], final = \
                    self.envs.step(env_action)
                self.first = steps["terminated"][t] | steps["truncated"][t]
                # Copies: a reset zeroes them in place, and the reward is a view of the recorded steps.
                self._prev = {"prev_action": action.copy(), "prev_reward": steps["reward"][t].copy()}
                for b, final_obs_b in final.items():
                    final_obs.append(final_obs_b)
                    final_at.append((t, b))
        steps["obs"][T], steps["first"][T] = self.obs, self.first
        steps["final_obs"] = np.stack(final_obs) if final_obs else np.empty((0,) + self.obs.shape[1:], self.obs.dtype)
        steps["final_at"] = np.array(final_at, np.int64).reshape(-1, 2)
        self.env_steps += T * B
        return steps

    def _reset_where_first(self) -> None:
        """A new episode starts from the initial state, with no previous action or reward."""
        if self.first.any():
            for name, value in self.state.items():
                value[self.first] = self._initial_state[name][self.first]
            for value in self._prev.values():
                value[self.first] = 0

    @staticmethod
    def _record(steps: Batch, t: int, num_steps: int, values: Batch) -> None:
        for name, value in values.items():
            if name not in steps:
                steps[name] = np.empty((num_steps,) + value.shape, value.dtype)
            steps[name][t] = value

    def _action_dtype(self) -> type:
        return np.float32 if self.bounds else np.int64
