"""RLlib 2.60's own DQN on the same env, worker and env counts, for the side-by-side throughput figure.

    python benchmarks/rllib_dqn_throughput.py --env CartPole-v1 --workers 1 --envs-per-worker 16 --seconds 30

Uses RLlib's new API stack with its DQN defaults (batch 32, one update per sampling round, double Q, dueling,
prioritized episode replay), or ``--training-intensity`` (replayed per sampled env step, rayrl's
``samples_per_insert``) and ``--train-batch-size`` to match a rayrl config; Atari ids get RLlib's Atari wrapper
(``rllib_common.py``). RLlib's DQN samples and trains in turn, in one ``training_step``, so env
steps/s and updates/s trade against each other. Prints one JSON line; the first ``--warmup`` seconds are excluded.
"""

from __future__ import annotations

import json
import os
import platform
import time

import ray
import rllib_common
from common import start_local_ray, throughput_parser
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.utils.metrics import ALL_MODULES, LEARNER_RESULTS, NUM_ENV_STEPS_TRAINED_LIFETIME


def trained(result: dict) -> int:
    """Env steps the learner trained on so far (replayed transitions), 0 before learning starts."""
    return int(result.get(LEARNER_RESULTS, {}).get(ALL_MODULES, {}).get(NUM_ENV_STEPS_TRAINED_LIFETIME, 0))


def main() -> None:
    parser = throughput_parser(__doc__, warmup=15.0)
    parser.add_argument("--training-intensity", type=float, help="replayed per sampled env step (RLlib: auto)")
    parser.add_argument("--train-batch-size", type=int, default=32, help="transitions per update (RLlib's 32)")
    rllib_common.add_gpus_flag(parser)
    args = parser.parse_args()

    start_local_ray(args.workers)
    config = (
        rllib_common.configure(DQNConfig(), args)
        .training(train_batch_size_per_learner=args.train_batch_size, training_intensity=args.training_intensity)
        # A result every second instead of every 1,000 env steps (RLlib's DQN default), so the measured window
        # ends near --seconds even when one env steps once per update; what a training step does is unchanged.
        .reporting(min_time_s_per_iteration=1, min_sample_timesteps_per_iteration=0)
    )
    algo = config.build_algo()
    start = time.perf_counter()
    while time.perf_counter() - start < args.warmup:
        result = algo.train()
    steps0, trained0, t0 = rllib_common.sampled(result), trained(result), time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        result = algo.train()
    elapsed = time.perf_counter() - t0
    trained_per_s = (trained(result) - trained0) / elapsed
    print(json.dumps({
        "benchmark": "rllib_dqn_throughput", "env": args.env, "workers": args.workers,
        "envs_per_worker": args.envs_per_worker, "seconds": round(elapsed, 1),
        "env_steps_per_s": round((rllib_common.sampled(result) - steps0) / elapsed),
        "trained_steps_per_s": round(trained_per_s),
        "learner_updates_per_s": round(trained_per_s / args.train_batch_size, 2),
        "train_batch_size": args.train_batch_size, "training_intensity": args.training_intensity,
        "ray": ray.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
    }))
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
