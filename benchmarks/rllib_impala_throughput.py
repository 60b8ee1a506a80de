"""RLlib 2.60's own IMPALA on the same env, worker and env counts, for the side-by-side throughput figure.

    python benchmarks/rllib_impala_throughput.py --env CartPole-v1 --workers 1 --envs-per-worker 16 --seconds 30

Uses RLlib's new API stack with its defaults; Atari ids get RLlib's own Atari wrapper at 84x84 with 4 stacked
frames (the same preprocessing as rayrl's). Prints one JSON line; the first ``--warmup`` seconds are excluded.
"""

from __future__ import annotations

import json
import os
import platform
import time

import gymnasium as gym
import ray
from common import start_local_ray, throughput_parser
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME


def sampled(result: dict) -> int:
    return int(result.get(ENV_RUNNER_RESULTS, {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)
               or result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))


def make_atari(env_id: str, cfg: dict) -> gym.Env:
    """Runs in RLlib's env runner processes: ALE's ids must be registered there too."""
    import ale_py
    from ray.rllib.env.wrappers.atari_wrappers import wrap_atari_for_new_api_stack

    gym.register_envs(ale_py)
    return wrap_atari_for_new_api_stack(gym.make(env_id, **cfg), dim=84, framestack=4)


def main() -> None:
    parser = throughput_parser(__doc__, warmup=25.0)  # RLlib reports every 10 s: skip its first two reports
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs for RLlib's learner")
    args = parser.parse_args()

    start_local_ray(args.workers)
    env, env_config = args.env, {}
    if args.env.startswith("ALE/"):
        from ray.tune.registry import register_env

        register_env("atari", lambda cfg: make_atari(args.env, cfg))
        env, env_config = "atari", {"frameskip": 1, "full_action_space": False}
    config = (
        IMPALAConfig()
        .environment(env, env_config=env_config, clip_rewards=args.env.startswith("ALE/") or None)
        .env_runners(num_env_runners=args.workers, num_envs_per_env_runner=args.envs_per_worker)
        .learners(num_learners=0, num_gpus_per_learner=args.gpus)
    )
    algo = config.build_algo()
    start = time.perf_counter()
    while time.perf_counter() - start < args.warmup:
        result = algo.train()
    steps0, t0 = sampled(result), time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        result = algo.train()
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "benchmark": "rllib_impala_throughput", "env": args.env, "workers": args.workers,
        "envs_per_worker": args.envs_per_worker, "seconds": round(elapsed, 1),
        "env_steps_per_s": round((sampled(result) - steps0) / elapsed), "ray": ray.__version__,
        "cpus": os.cpu_count(), "machine": platform.machine(),
    }))
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
