"""RLlib 2.60's own IMPALA on the same env, worker and env counts, for the side-by-side throughput figure.

    python benchmarks/rllib_impala_throughput.py --env CartPole-v1 --workers 1 --envs-per-worker 16 --seconds 30

Uses RLlib's new API stack with its defaults; Atari ids get RLlib's own Atari wrapper (``rllib_common.py``).
Prints one JSON line: env steps sampled and trained per second, and the GPU's utilisation where ``nvidia-smi`` is
found; the first ``--warmup`` seconds are excluded.
"""

from __future__ import annotations

import json
import os
import platform
import time

import ray
import rllib_common
from common import GpuMonitor, start_local_ray, throughput_parser
from ray.rllib.algorithms.impala import IMPALAConfig


def main() -> None:
    parser = throughput_parser(__doc__, warmup=25.0)  # RLlib reports every 10 s by default: skip its first two reports
    rllib_common.add_gpus_flag(parser)
    parser.add_argument("--report-seconds", type=float, default=10.0,
                        help="wall time per RLlib iteration (min_time_s_per_iteration, 10 s by default for IMPALA)")
    args = parser.parse_args()

    start_local_ray(args.workers)
    config = rllib_common.configure(IMPALAConfig(), args).reporting(min_time_s_per_iteration=args.report_seconds)
    algo = config.build_algo()
    start = time.perf_counter()
    while time.perf_counter() - start < args.warmup:
        result = algo.train()
    steps0, trained0, t0 = rllib_common.sampled(result), rllib_common.trained(result), time.perf_counter()
    with GpuMonitor() as gpu:
        while time.perf_counter() - t0 < args.seconds:
            result = algo.train()
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "benchmark": "rllib_impala_throughput", "env": args.env, "workers": args.workers,
        "envs_per_worker": args.envs_per_worker, "seconds": round(elapsed, 1),
        "env_steps_per_s": round((rllib_common.sampled(result) - steps0) / elapsed),
        "trained_steps_per_s": round((rllib_common.trained(result) - trained0) / elapsed), "gpus": args.gpus,
        **gpu.summary(), "ray": ray.__version__,
        "cpus": os.cpu_count(), "machine": platform.machine(),
    }))
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
