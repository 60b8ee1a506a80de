"""The learner's device, and whether its trained weights reach the CPU workers: a few updates of each algorithm.

    python benchmarks/learner_device.py --algos impala,apex --env CartPole-v1 --updates 30 --require-cuda

Runs each algorithm's plan on a local Ray until its learner has made ``--updates`` updates, then asks every worker
for the version of the weights it acts with, the device of its network and the network itself, and compares them
with the weights the plan published at that version (byte for byte) and with the initial ones. Prints one JSON
line; ``ok`` is true when every worker acts on the CPU with finite weights that the learner trained and published,
and, with ``--require-cuda``, the learner trained on a CUDA device. Exit code 1 when it is not.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import ray
from common import start_local_ray

from rayrl.algorithms import registry
from rayrl.config import build_config, parse_overrides
from rayrl.core import PublishedWeights


def worker_view(worker) -> dict:
    """Runs inside a worker actor: the version, device and weights of the network it acts with."""
    return {"policy_version": worker.policy_version, "device": str(next(worker.model.parameters()).device),
            "weights": {k: v.numpy() for k, v in worker.model.state_dict().items()}}


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def check(algo_name: str, env: str, updates: int, timeout: float, overrides: dict) -> dict:
    """Train ``algo_name`` for ``updates`` learner updates; what its workers act with."""
    algo = registry.get(algo_name)
    config = build_config(algo.config_cls, algo.preset_for(env), {"env": env, "report_seconds": 0.5, **overrides})
    published: dict[int, PublishedWeights] = {}  # every version the workers may have pulled

    class RecordingPlan(algo.plan_cls):
        def __setattr__(self, name, value):
            if name == "weights":  # a plan publishes by setting its weights, several times within a report
                published[value.version] = value
            super().__setattr__(name, value)

    plan = RecordingPlan(config)
    initial = plan.weights.fetch()
    start, result = time.perf_counter(), {}
    while plan.progress.updates < updates and time.perf_counter() - start < timeout:
        result = plan.train_step()
    views = ray.get([actor.__ray_call__.remote(worker_view) for actor in plan.workers.actors.values()])
    workers = []
    for view in views:
        weights = published.get(view["policy_version"])
        workers.append({"policy_version": view["policy_version"], "device": view["device"],
                        "matches_published": weights is not None and same(view["weights"], weights.fetch()),
                        "trained": not same(view["weights"], initial),
                        "finite": all(np.isfinite(v).all() for v in view["weights"].values())})
    plan.stop()
    return {"learner_device": plan.device, "updates": plan.progress.updates,
            "seconds": round(time.perf_counter() - start, 1),
            "episode_return_mean": result.get("episode_return_mean"), "workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", default="impala,apex", help="comma-separated algorithms")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--updates", type=int, default=30, help="learner updates before the workers are asked")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each algorithm may take to get there")
    parser.add_argument("--require-cuda", action="store_true", help="the learner must train on a CUDA device")
    parser.add_argument("--set", nargs="*", default=[], help="further config overrides, key=value")
    args = parser.parse_args()

    start_local_ray(args.workers)
    overrides = {"num_workers": args.workers, **parse_overrides(args.set)}
    algos = {name: check(name, args.env, args.updates, args.timeout, overrides) for name in args.algos.split(",")}
    ok = all(
        r["updates"] >= args.updates and (r["learner_device"].startswith("cuda") or not args.require_cuda)
        and all(w["device"] == "cpu" and w["policy_version"] > 0 and w["matches_published"] and w["trained"]
                and w["finite"] for w in r["workers"])
        for r in algos.values()
    )
    print(json.dumps({"benchmark": "learner_device", "env": args.env, "ok": ok, "require_cuda": args.require_cuda,
                      **algos}))
    ray.shutdown()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
