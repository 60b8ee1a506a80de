"""The raw step rate of an env: processes that only step their envs with random actions, no policy and no Ray.

    python benchmarks/env_step_rate.py --env ALE/Pong-v5 --processes 16 --envs-per-process 8 --seconds 20

Each process steps the envs a rayrl worker would (``make_vector_env`` with the training preprocessing: on Atari
84x84 grey frames, 4 stacked, frameskip 4, clipped rewards) for ``--seconds`` after all have started; the sum of
their steps per second is the limit that a plan's env steps/s on as many cores is measured against. Prints one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time


def step_envs(env_id: str, num_envs: int, seconds: float, seed: int, start) -> int:
    """Runs in a process of its own: env steps in ``seconds`` from the moment every process is ready."""
    import numpy as np

    from rayrl.envs import make_vector_env

    envs = make_vector_env(env_id, num_envs, seed=seed)
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = [np.array([envs.single_action_space.sample() for _ in range(num_envs)]) for _ in range(64)]
    start.wait()  # every process's envs built and reset: their start-up is not measured
    steps, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        envs.step(actions[rng.integers(len(actions))])
        steps += num_envs
    envs.close()
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="ALE/Pong-v5")
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument("--envs-per-process", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")  # no forked copy of this process's state
    manager = context.Manager()
    start = manager.Barrier(args.processes + 1)
    with context.Pool(args.processes) as pool:
        results = pool.starmap_async(step_envs, [(args.env, args.envs_per_process, args.seconds, 1000 * i, start)
                                                 for i in range(args.processes)])
        start.wait()
        steps = results.get()
    print(json.dumps({
        "benchmark": "env_step_rate", "env": args.env, "processes": args.processes,
        "envs_per_process": args.envs_per_process, "seconds": args.seconds,
        "env_steps_per_s": round(sum(steps) / args.seconds),
        "env_steps_per_s_per_process": round(sum(steps) / args.seconds / args.processes),
        "cpus": os.cpu_count(), "machine": platform.machine(),
    }))


if __name__ == "__main__":
    main()
