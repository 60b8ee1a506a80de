"""Environments: make_env() for gymnasium ids, Atari and MiniGrid ids and "module:Class" user envs; VectorEnv to step
many; scripted experts for demonstrations (rayrl.envs.experts).

Importing this package registers rayrl's own envs with gymnasium (string entry points: nothing more is imported
until one is made), so both `rayrl train --env rayrl/DeepSea-v0` and `gymnasium.make("rayrl/DeepSea-v0")` work:

    rayrl/MaskedCartPole-v1   CartPole-v1 observing only cart position and pole angle: a memory task (R2D2)
    rayrl/DeepSea-v0          bsuite's deep sea, env_kwargs size (N, default 10) and mapping_seed: hard exploration
"""

import gymnasium as gym

from rayrl.envs.atari import AtariOptions, frame_stack_depth
from rayrl.envs.make import make_env
from rayrl.envs.vector import VectorEnv, make_vector_env

gym.register(
    "rayrl/MaskedCartPole-v1",
    entry_point="rayrl.envs.masked_cartpole:MaskedCartPoleEnv",
    max_episode_steps=500,
    reward_threshold=475.0,
)
gym.register("rayrl/DeepSea-v0", entry_point="rayrl.envs.deep_sea:DeepSeaEnv")

__all__ = ["AtariOptions", "VectorEnv", "frame_stack_depth", "make_env", "make_vector_env"]
