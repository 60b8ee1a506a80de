"""Environments: make_env() for gymnasium ids, Atari ids and "module:Class" user envs; VectorEnv to step many."""

from rayrl.envs.atari import AtariOptions, frame_stack_depth
from rayrl.envs.make import make_env
from rayrl.envs.vector import VectorEnv, make_vector_env

__all__ = ["AtariOptions", "VectorEnv", "frame_stack_depth", "make_env", "make_vector_env"]
