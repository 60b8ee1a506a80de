"""Masked CartPole: CartPole-v1 with its velocities hidden, a small memory task for recurrent agents (R2D2).

The observation keeps the cart position and the pole angle, float32 [2]; the cart velocity and the pole's angular
velocity are dropped. One observation no longer tells which way the pole is moving: a policy has to remember the
earlier ones to tell (a velocity is a difference of two positions). Registered as ``rayrl/MaskedCartPole-v1`` with
CartPole-v1's 500-step time limit and reward threshold. The RL Baselines3 Zoo's MaskVelocityWrapper
("CartPoleNoVel") zeros the same two entries instead of dropping them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

VISIBLE = [0, 2]
"""CartPole's observation entries kept: cart position, pole angle (1 and 3 are the velocities)."""


class MaskedCartPoleEnv(CartPoleEnv):
    """CartPoleEnv observing float32 [cart position, pole angle]; its dynamics, rewards and rendering unchanged."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        space = self.observation_space
        self.observation_space = gym.spaces.Box(space.low[VISIBLE], space.high[VISIBLE], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        return obs[VISIBLE], info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[VISIBLE], reward, terminated, truncated, info
