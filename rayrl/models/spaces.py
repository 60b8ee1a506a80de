"""Which observation and action spaces the models read: checked without importing torch, so the CLI fails fast."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rayrl.errors import RayrlError


def check_observation_space(space: gym.Space) -> tuple[int, ...]:
    """The observation shape, or a one-line error for spaces the encoders cannot read."""
    if not isinstance(space, gym.spaces.Box):
        raise RayrlError(
            f"observation space {space} is not supported; use an env with a Box observation space "
            "(flatten Dict/Tuple/Discrete observations with a gymnasium wrapper)"
        )
    return tuple(space.shape)


def check_action_space(space: gym.Space) -> str:
    """'discrete' or 'continuous' (1-D Box); anything else is a one-line error."""
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "continuous"
    raise RayrlError(
        f"action space {space} is not supported by actor-critic algorithms; "
        "use an env with a Discrete or a 1-D Box action space"
    )


def check_discrete_action_space(space: gym.Space) -> int:
    """The number of actions, or a one-line error: Q-learning needs a Discrete action space."""
    if not isinstance(space, gym.spaces.Discrete):
        raise RayrlError(
            f"action space {space} is not supported by Q-learning algorithms; use an env with a Discrete action space"
        )
    return int(space.n)


def action_bounds(action_space: gym.Space) -> tuple[np.ndarray, np.ndarray] | None:
    """Low and high bounds for Box actions (actions are clipped to them when stepping the env), else None."""
    if isinstance(action_space, gym.spaces.Box):
        return action_space.low.astype(np.float32), action_space.high.astype(np.float32)
    return None
