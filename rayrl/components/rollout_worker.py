"""The rollout worker: the env loop with an actor-critic's sampled actions; time-major numpy rollouts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rayrl.components.env_worker import CoreState, EnvWorker, make_envs
from rayrl.core import Batch
from rayrl.models.actor_critic import ActorCritic


class SamplingCore:
    """Actions sampled from an actor-critic's policy; the extras are its distribution parameters (``behaviour``),
    so an off-policy learner can compute pi / mu."""

    def __init__(self, model: ActorCritic):
        self.model = model
        self.distribution = model.distribution

    def initial_state(self, num_envs: int) -> CoreState:
        return {}

    def select_action(self, inputs: Batch, state: CoreState, env_steps: int):
        params = self.model.policy_params(torch.from_numpy(inputs["obs"]))
        return self.distribution.sample(params).numpy(), {"behaviour": params.numpy()}, state


class RolloutWorker(EnvWorker):
    """Runs the newest actor-critic it has pulled on its envs for ``rollout_length`` steps per ``sample`` call and
    returns the rollout of ``rayrl.core``."""

    def __init__(self, *, env: str, num_envs: int, rollout_length: int, seed: int, hidden_sizes: tuple[int, ...],
                 env_kwargs: dict[str, Any] | None = None, pull_period_steps: int = 0):
        envs = make_envs(env, num_envs, seed=seed, env_kwargs=env_kwargs)
        model = ActorCritic(envs.single_observation_space, envs.single_action_space, hidden_sizes)
        super().__init__(envs=envs, core=SamplingCore(model), rollout_length=rollout_length, seed=seed,
                         pull_period_steps=pull_period_steps)

    def write(self, steps: Batch) -> Batch:
        del steps["first"]  # a feed-forward learner needs no episode starts: terminated and truncated end them
        return steps


def join_rollouts(rollouts: Sequence[Batch]) -> Batch:
    """Rollouts side by side along B, as one rollout of ``sum(B_i)`` envs (the contract in ``rayrl.core``).

    The time-major fields are concatenated along axis 1; the final observations of truncated episodes are
    concatenated in order, and their env index ``final_at[:, 1]`` is shifted by the envs of the rollouts before.
    """
    if len(rollouts) == 1:
        return rollouts[0]
    sparse = ("final_obs", "final_at")
    joined = {k: np.concatenate([r[k] for r in rollouts], axis=1) for k in rollouts[0] if k not in sparse}
    env_offsets = np.cumsum([0] + [r["reward"].shape[1] for r in rollouts[:-1]])
    joined["final_obs"] = np.concatenate([r["final_obs"] for r in rollouts])
    joined["final_at"] = np.concatenate([r["final_at"] + (0, offset) for r, offset in zip(rollouts, env_offsets)])
    return joined
