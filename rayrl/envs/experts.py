"""Scripted experts for rayrl's exploration tasks: the demonstrators whose episodes R2D3 learns from.

R2D3 (Paine et al. 2019, "Making Efficient Use of Demonstrations to Solve Hard Exploration Problems") mixes a fixed
set of expert episodes into replay; `rayrl record-demos --policy rayrl.envs.experts:deep_sea_expert` records them
with one of these.

The interface, for these and for a user's own expert ("package.module:function"):

    expert(env: gymnasium.Env) -> act      called once, with the env that rayrl's make_env built (training=False)
    act(obs) -> action                     called once per step with the env's latest (wrapped) observation, the
                                           one its reset() or step() just returned

A scripted expert may read the env's true state from `env.unwrapped` rather than the observation (this one does);
that is why it gets the env itself, and why `act` must see every observation of that env, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.envs.deep_sea import DeepSeaEnv
from rayrl.errors import RayrlError

Act = Callable[[Any], int]


def deep_sea_expert(env: gym.Env) -> Act:
    """Moves right in every cell (the env's action mapping says which action that is): return 1 - 0.01, always."""
    sea = env.unwrapped
    if not isinstance(sea, DeepSeaEnv):
        raise RayrlError(f"deep_sea_expert plays rayrl/DeepSea-v0, not {_env_name(env)}")

    def act(obs) -> int:
        row, column = divmod(int(np.argmax(obs)), sea.size)  # the one-hot cell of the agent
        return int(sea.action_mapping[row, column])

    return act


def _env_name(env: gym.Env) -> str:
    return repr(env.spec.id) if env.spec is not None else type(env.unwrapped).__name__
