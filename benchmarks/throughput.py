"""Throughput of an algorithm's plan: env steps/s sampled and trained, learner updates/s, for an env and workers.

    python benchmarks/throughput.py --algo impala --env CartPole-v1 --workers 1 --envs-per-worker 16 --seconds 30

Runs rayrl's plan on a local Ray (no Tune: this measures the plan) and prints one JSON line, with the GPU's
utilisation over the measured time where ``nvidia-smi`` is found; ``--memory`` adds each report's replay size and
actors' private memory, to tell growth beyond the replay's own from the replay filling up.
The first ``--warmup`` seconds (actor start-up, first weights) are excluded.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time

import ray
from common import GpuMonitor, actor_private_mb, start_local_ray, throughput_parser

from rayrl.algorithms import registry
from rayrl.config import build_config, parse_overrides


def main() -> None:
    parser = throughput_parser(__doc__, warmup=10.0)
    parser.add_argument("--algo", default="impala", help="any algorithm rayrl registers")
    parser.add_argument("--set", nargs="*", default=[], help="further config overrides, key=value")
    parser.add_argument("--memory", action="store_true",
                        help="record each report's replay size and the private memory of each actor class")
    args = parser.parse_args()

    algo = registry.get(args.algo)
    overrides = {"env": args.env, "num_workers": args.workers, "num_envs_per_worker": args.envs_per_worker,
                 "report_seconds": 1.0, **parse_overrides(args.set)}
    config = build_config(algo.config_cls, algo.preset_for(args.env), overrides)
    start_local_ray(args.workers)
    plan = algo.plan_cls(config)
    start = time.perf_counter()
    while time.perf_counter() - start < args.warmup:
        plan.train_step()
    first = plan.progress.get_state()
    t0 = time.perf_counter()
    samples, updates, memory = [], [], []
    with GpuMonitor() as gpu:
        while time.perf_counter() - t0 < args.seconds:
            result = plan.train_step()
            samples.append(round(result["env_steps_per_s"]))
            updates.append(round(result["updates_per_s"], 1))
            now = time.perf_counter() - t0
            if args.memory and (not memory or now - memory[-1]["t"] >= 10):
                memory.append({"t": round(now), "replay_size": result.get("replay_size"),
                               "private_mb": actor_private_mb()})
    elapsed = time.perf_counter() - t0
    last = plan.progress.get_state()
    print(json.dumps({
        "benchmark": "throughput", "algo": algo.name, "env": args.env, "workers": args.workers,
        "envs_per_worker": args.envs_per_worker, "seconds": round(elapsed, 1),
        "env_steps_per_s": round((last["env_steps"] - first["env_steps"]) / elapsed),
        "trained_steps_per_s": round((last["env_steps_trained"] - first["env_steps_trained"]) / elapsed),
        "learner_updates_per_s": round((last["updates"] - first["updates"]) / elapsed, 2),
        "env_steps_per_s_each_report": samples, "updates_per_s_each_report": updates,
        "episode_return_mean": result["episode_return_mean"], "policy_lag_mean": result.get("policy_lag_mean"),
        "rollouts_dropped": result.get("rollouts_dropped"), "learner_device": getattr(plan, "device", None),
        **gpu.summary(),
        "driver_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **({"memory_each_report": memory} if args.memory else {}),
        "overrides": args.set, "cpus": os.cpu_count(), "machine": platform.machine(),
    }))
    plan.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
