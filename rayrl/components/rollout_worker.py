"""The rollout worker: the env loop with an actor-critic's sampled actions; time-major numpy rollouts out.

With ``lstm_size`` the actor-critic is recurrent (the LSTM agents of A3C, Mnih et al. 2016, and IMPALA, Espeholt et
al. 2018): the env loop carries its core state across steps and rollouts, and each rollout carries what the learner
needs to re-run the core over it (``rayrl.core``, "Data"): the state at its first step and the core's inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rayrl.components.env_worker import CoreState, EnvWorker, make_envs
from rayrl.core import Batch
from rayrl.models.actor_critic import ActorCritic
from rayrl.models.recurrent import RecurrentActorCritic

PER_ENV_FIELDS = ("state_h", "state_c")
"""Rollout fields ``[B, ...]`` (the core state at step 0): joined along axis 0, not along B of ``[T, B, ...]``."""


class SamplingCore:
    """Actions sampled from an actor-critic's policy; the extras are its distribution parameters (``behaviour``),
    so an off-policy learner can compute pi / mu."""

    def __init__(self, model: ActorCritic | RecurrentActorCritic):
        self.model = model
        self.distribution = model.distribution

    def initial_state(self, num_envs: int) -> CoreState:
        return {}

    def select_action(self, inputs: Batch, state: CoreState, env_steps: int):
        params, state = self.policy_params(inputs, state)
        return self.distribution.sample(params).numpy(), {"behaviour": params.numpy()}, state

    def policy_params(self, inputs: Batch, state: CoreState) -> tuple[torch.Tensor, CoreState]:
        """The policy's distribution parameters ``[B, P]`` for ``inputs``, and the next core state."""
        return self.model.policy_params(torch.from_numpy(inputs["obs"])), state


class RecurrentSamplingCore(SamplingCore):
    """Sampling from a :class:`RecurrentActorCritic`, whose LSTM state (``state_h``, ``state_c``) it carries from
    step to step; the env loop resets it to zeros where an episode starts."""

    def initial_state(self, num_envs: int) -> CoreState:
        state_h, state_c = self.model.initial_state(num_envs)
        return {"state_h": state_h.numpy(), "state_c": state_c.numpy()}

    def policy_params(self, inputs: Batch, state: CoreState) -> tuple[torch.Tensor, CoreState]:
        tensors = {name: torch.from_numpy(value) for name, value in {**inputs, **state}.items()}
        params, (state_h, state_c) = self.model.policy_step(tensors["obs"], tensors["prev_action"],
                                                            tensors["prev_reward"],
                                                            (tensors["state_h"], tensors["state_c"]))
        return params, {"state_h": state_h.numpy(), "state_c": state_c.numpy()}


class RolloutWorker(EnvWorker):
    """Runs the newest actor-critic it has pulled on its envs for ``rollout_length`` steps per ``sample`` call and
    returns the rollout of ``rayrl.core``.

    Args:
        lstm_size: a :class:`RecurrentActorCritic` of this LSTM width, whose rollouts carry its core state and
            inputs; None: a feed-forward :class:`ActorCritic`.
        Others as :class:`~rayrl.components.env_worker.EnvWorker` and :class:`ActorCritic`.
    """

    def __init__(self, *, env: str, num_envs: int, rollout_length: int, seed: int, hidden_sizes: tuple[int, ...],
                 lstm_size: int | None = None, env_kwargs: dict[str, Any] | None = None, pull_period_steps: int = 0):
        envs = make_envs(env, num_envs, seed=seed, env_kwargs=env_kwargs)
        spaces = envs.single_observation_space, envs.single_action_space
        if lstm_size is None:
            core = SamplingCore(ActorCritic(*spaces, hidden_sizes))
        else:
            core = RecurrentSamplingCore(RecurrentActorCritic(*spaces, hidden_sizes, lstm_size))
        super().__init__(envs=envs, core=core, rollout_length=rollout_length, seed=seed,
                         pull_period_steps=pull_period_steps)

    def write(self, steps: Batch) -> Batch:
        if not self.recurrent:
            del steps["first"]  # a feed-forward learner needs no episode starts: terminated and truncated end them
            return steps
        # The core's inputs at the bootstrap step obs[T] too (the previous action and reward, zero where obs[T]
        # starts an episode), and its state at step 0 only: the learner re-runs the core from there.
        T = self.rollout_length
        starts = steps["first"][T]
        for name, last in (("prev_action", steps["action"][T - 1]), ("prev_reward", steps["reward"][T - 1])):
            bootstrap = np.where(starts.reshape(starts.shape + (1,) * (last.ndim - 1)), np.zeros_like(last), last)
            steps[name] = np.concatenate([steps[name], bootstrap[None]])
        for name in PER_ENV_FIELDS:
            steps[name] = steps[name][0].copy()  # not a view that would keep all T steps' states alive
        return steps


def join_rollouts(rollouts: Sequence[Batch]) -> Batch:
    """Rollouts side by side along B, as one rollout of ``sum(B_i)`` envs (the contract in ``rayrl.core``).

    The time-major fields are concatenated along axis 1 and a recurrent rollout's state ``[B, H]`` along axis 0;
    the final observations of truncated episodes are concatenated in order, and their env index ``final_at[:, 1]``
    is shifted by the envs of the rollouts before.
    """
    if len(rollouts) == 1:
        return rollouts[0]
    sparse = ("final_obs", "final_at")
    joined = {k: np.concatenate([r[k] for r in rollouts], axis=0 if k in PER_ENV_FIELDS else 1)
              for k in rollouts[0] if k not in sparse}
    env_offsets = np.cumsum([0] + [r["reward"].shape[1] for r in rollouts[:-1]])
    joined["final_obs"] = np.concatenate([r["final_obs"] for r in rollouts])
    joined["final_at"] = np.concatenate([r["final_at"] + (0, offset) for r, offset in zip(rollouts, env_offsets)])
    return joined
