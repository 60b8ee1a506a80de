"""The rollout worker: B vectorised envs, one batched forward pass per step, time-major numpy rollouts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rayrl.core import Batch, EpisodeStats, PublishedWeights
from rayrl.envs import make_vector_env
from rayrl.models.actor_critic import ActorCritic
from rayrl.models.spaces import action_bounds


class RolloutWorker:
    """Runs the newest policy it has pulled on its envs for ``rollout_length`` steps per ``sample`` call.

    Plain Python: a plan makes it an actor with ``ray.remote(RolloutWorker)``; tests use it directly.
    """

    def __init__(
        self,
        *,
        env: str,
        num_envs: int,
        rollout_length: int,
        seed: int,
        hidden_sizes: tuple[int, ...],
        env_kwargs: dict[str, Any] | None = None,
        pull_period_steps: int = 0,
    ):
        # One thread per worker: workers are many and small; intra-op threads would fight over the cores.
        torch.set_num_threads(1)
        torch.manual_seed(seed)
        self.envs = make_vector_env(env, num_envs, seed=seed, training=True, env_kwargs=env_kwargs)
        self.model = ActorCritic(self.envs.single_observation_space, self.envs.single_action_space, hidden_sizes)
        self.model.eval()
        self.distribution = self.model.distribution
        self.bounds = action_bounds(self.envs.single_action_space)
        self.rollout_length = rollout_length
        self.pull_period_steps = pull_period_steps
        self.policy_version = -1  # pulls the learner's version 0 on the first call
        self.env_steps = 0
        self._steps_at_last_pull = 0
        self.obs = self.envs.reset(seed=seed)

    def sample(self, weights: PublishedWeights | None = None) -> tuple[Batch, EpisodeStats]:
        """Pull ``weights`` if newer and the pull period has elapsed, run one unroll, return it and its episodes."""
        self.maybe_pull(weights)
        T, B = self.rollout_length, self.envs.num_envs
        obs = np.empty((T + 1, B) + self.obs.shape[1:], self.obs.dtype)
        actions = np.empty((T, B) + self.distribution.action_shape, np.float32 if self.bounds else np.int64)
        behaviour = np.empty((T, B, self.distribution.num_params), np.float32)
        rewards = np.empty((T, B), np.float32)
        terminated = np.empty((T, B), bool)
        truncated = np.empty((T, B), bool)
        final_obs, final_at = [], []  # the last observations of episodes cut by a time limit, and their (t, b)
        with torch.inference_mode():
            for t in range(T):
                obs[t] = self.obs
                params = self.model.policy_params(torch.from_numpy(self.obs))
                action = self.distribution.sample(params).numpy()
                actions[t] = action
                behaviour[t] = params.numpy()
                env_action = np.clip(action, *self.bounds) if self.bounds else action
                self.obs, rewards[t], terminated[t], truncated[t], final = self.envs.step(env_action)
                for b, final_obs_b in final.items():
                    final_obs.append(final_obs_b)
                    final_at.append((t, b))
        obs[T] = self.obs
        self.env_steps += T * B
        returns, lengths = self.envs.pop_episode_stats()
        rollout = dict(obs=obs, actions=actions, rewards=rewards, terminated=terminated, truncated=truncated,
                       behaviour=behaviour,
                       final_obs=np.stack(final_obs) if final_obs else np.empty((0,) + obs.shape[2:], obs.dtype),
                       final_at=np.array(final_at, np.int64).reshape(-1, 2))
        return rollout, EpisodeStats(returns, lengths, T * B, self.policy_version)

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


def join_rollouts(rollouts: Sequence[Batch]) -> Batch:
    """Rollouts side by side along B, as one rollout of ``sum(B_i)`` envs (the contract in ``rayrl.core``).

    The time-major fields are concatenated along axis 1; the final observations of truncated episodes are
    concatenated in order, and their env index ``final_at[:, 1]`` is shifted by the envs of the rollouts before.
    """
    if len(rollouts) == 1:
        return rollouts[0]
    sparse = ("final_obs", "final_at")
    joined = {k: np.concatenate([r[k] for r in rollouts], axis=1) for k in rollouts[0] if k not in sparse}
    env_offsets = np.cumsum([0] + [r["rewards"].shape[1] for r in rollouts[:-1]])
    joined["final_obs"] = np.concatenate([r["final_obs"] for r in rollouts])
    joined["final_at"] = np.concatenate([r["final_at"] + (0, offset) for r, offset in zip(rollouts, env_offsets)])
    return joined
