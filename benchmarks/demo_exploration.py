"""Demonstrations against exploration: greedy success of R2D3 and of R2D2 on a hard-exploration task, over time.

    python benchmarks/demo_exploration.py --env MiniGrid-DoorKey-8x8-v0 --demos rayrl/doorkey-8x8-expert-v0 \
        --minutes 20 --eval-every 120 --episodes 50 [--algos r2d3 r2d2] [--set key=value ...]

Each algorithm's plan trains on a local Ray (2 CPUs) for at most ``--minutes`` of wall time, every one on the preset
that the demonstration learner (``--preset-of``, R2D3) has for the env, less the keys it lacks: the runs differ in
the demonstrations alone. Every ``--eval-every`` seconds, the newest published weights play ``--episodes`` greedy
episodes here, in this process, while training goes on (so evaluation takes its share of the same CPUs); their
seeds (from 10,000) are neither the demonstrations' nor the training envs'. An episode succeeds when its return
is positive, which on MiniGrid and deep sea means it reached the goal. A run ends at its first evaluation with a
success of at least ``--target``. ``--demos`` goes to the algorithms that take demonstrations. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import ray
from common import start_local_ray

from rayrl.algorithms import registry
from rayrl.config import build_config, parse_overrides
from rayrl.evaluation import run_episodes
from rayrl.policy import make_policy

EVAL_SEED = 10_000


def run(algo_name: str, args) -> dict:
    algo = registry.get(algo_name)
    overrides = {"env": args.env, "seed": args.seed, **parse_overrides(args.set)}
    fields = algo.config_cls.__dataclass_fields__
    if "demos" in fields:
        overrides["demos"] = args.demos
    preset = {k: v for k, v in registry.get(args.preset_of).preset_for(args.env).items() if k in fields}
    config = build_config(algo.config_cls, preset, overrides)
    start_local_ray(config.num_workers)
    policy = make_policy(algo_name, config, seed=args.seed)
    plan = algo.plan_cls(config)
    start, budget = time.perf_counter(), args.minutes * 60
    next_eval, evaluations = args.eval_every, []
    while True:
        result = plan.train_step()
        elapsed = time.perf_counter() - start
        if elapsed < next_eval and elapsed < budget:
            continue
        policy.set_weights(plan.policy_weights().fetch())
        returns, _ = run_episodes(policy, env=args.env, env_kwargs=config.env_kwargs, episodes=args.episodes,
                                  seed=EVAL_SEED, stochastic=False)
        success = float(np.mean(np.array(returns) > 0))
        evaluations.append({"t": round(elapsed), "env_steps": result["timesteps_total"],
                            "updates": result.get("learner_updates"), "success": success,
                            "train_return_mean": round(result.get("episode_return_mean", float("nan")), 3),
                            "return_mean": round(float(np.mean(returns)), 3)})
        print(json.dumps({"algo": algo_name, **evaluations[-1]}), flush=True, file=sys.stderr)
        next_eval += args.eval_every
        if success >= args.target or time.perf_counter() - start >= budget:
            break
    plan.stop()
    ray.shutdown()
    reached = next((e["t"] for e in evaluations if e["success"] >= args.target), None)
    return {"algo": algo_name, "reached_target_s": reached, "final_success": evaluations[-1]["success"],
            "best_success": max(e["success"] for e in evaluations), "evaluations": evaluations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--demos", required=True, help="a Minari dataset id or path (rayrl record-demos writes one)")
    parser.add_argument("--algos", nargs="+", default=["r2d3", "r2d2"])
    parser.add_argument("--preset-of", default="r2d3", help="the algorithm whose preset every run starts from")
    parser.add_argument("--minutes", type=float, default=20.0, help="the wall-time budget of each algorithm")
    parser.add_argument("--eval-every", type=float, default=120.0, help="seconds between evaluations")
    parser.add_argument("--episodes", type=int, default=50, help="greedy episodes per evaluation")
    parser.add_argument("--target", type=float, default=0.9, help="the success that ends a run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], help="config overrides for every algorithm, key=value")
    args = parser.parse_args()
    runs = [run(algo, args) for algo in args.algos]
    print(json.dumps({"benchmark": "demo_exploration", "env": args.env, "demos": args.demos,
                      "preset_of": args.preset_of, "minutes": args.minutes, "episodes": args.episodes,
                      "target": args.target, "seed": args.seed, "overrides": args.set, "runs": runs,
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
