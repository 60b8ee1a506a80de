"""What the RLlib side-by-side benchmarks share: the --gpus flag, the env set-up (Atari ids get RLlib's own Atari
wrapper at 84x84 with 4 stacked frames, the same preprocessing as rayrl's), the runner topology, and counters."""

from __future__ import annotations

import argparse
import functools

import gymnasium as gym
from ray.rllib.core import ALL_MODULES
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
)


def add_gpus_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs for RLlib's learner")


def configure(config, args: argparse.Namespace):
    """``config`` (an RLlib ``AlgorithmConfig``) on ``args.env`` with ``args.workers`` env runners of
    ``args.envs_per_worker`` envs each and ``args.gpus`` for its one local learner."""
    env, env_config = args.env, {}
    if args.env.startswith("ALE/"):
        from ray.tune.registry import register_env

        register_env("atari", functools.partial(make_atari, args.env))
        env, env_config = "atari", {"frameskip": 1, "full_action_space": False}
    return (
        config.environment(env, env_config=env_config, clip_rewards=args.env.startswith("ALE/") or None)
        .env_runners(num_env_runners=args.workers, num_envs_per_env_runner=args.envs_per_worker)
        .learners(num_learners=0, num_gpus_per_learner=args.gpus)
    )


def make_atari(env_id: str, cfg: dict) -> gym.Env:
    """Runs in RLlib's env runner processes: ALE's ids must be registered there too."""
    import ale_py
    from ray.rllib.env.wrappers.atari_wrappers import wrap_atari_for_new_api_stack

    gym.register_envs(ale_py)
    return wrap_atari_for_new_api_stack(gym.make(env_id, **cfg), dim=84, framestack=4)


def sampled(result: dict) -> int:
    """Env steps the env runners sampled so far."""
    return int(result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))


def trained(result: dict) -> int:
    """Env steps the learner trained on so far."""
    return int(result.get(LEARNER_RESULTS, {}).get(ALL_MODULES, {}).get(NUM_ENV_STEPS_TRAINED_LIFETIME, 0))
