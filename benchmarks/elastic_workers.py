"""Elastic rollout workers: nodes join and leave a running IMPALA plan; prints the worker count over time.

    python benchmarks/elastic_workers.py [--phase-seconds 10]

Starts a real multi-node Ray on this machine (ray.cluster_utils.Cluster: one raylet per node), runs IMPALA on
CartPole with num_workers=1 and max_workers=3, adds a 1-CPU node, then another, then removes one. Prints one JSON
line: per report, the time, the number of rollout workers and env steps/s, and whether the run kept going.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import ray
from ray.cluster_utils import Cluster

from rayrl.algorithms import registry
from rayrl.config import build_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase-seconds", type=float, default=10.0, help="time between node changes")
    args = parser.parse_args()

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})  # the learner and one worker
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    algo = registry.get("impala")
    config = build_config(algo.config_cls, algo.preset_for("CartPole-v1"),
                          {"env": "CartPole-v1", "num_workers": 1, "max_workers": 3, "report_seconds": 1.0})
    plan = algo.plan_cls(config)
    start = time.perf_counter()
    timeline, events, nodes = [], [], []
    schedule = [("add node", 1), ("add node", 2), ("remove node", 3), ("end", 4.5)]
    for event, phase in schedule:
        while time.perf_counter() - start < phase * args.phase_seconds:
            result = plan.train_step()
            timeline.append({"t": round(time.perf_counter() - start, 1), "workers": result["num_workers"],
                             "env_steps_per_s": round(result["env_steps_per_s"]),
                             "worker_restarts": result["worker_restarts"]})
        events.append({"t": round(time.perf_counter() - start, 1), "event": event})
        if event == "add node":
            nodes.append(cluster.add_node(num_cpus=1))
        elif event == "remove node":
            cluster.remove_node(nodes.pop())
    print(json.dumps({"benchmark": "elastic_workers", "events": events, "timeline": timeline,
                      "max_workers_seen": max(r["workers"] for r in timeline),
                      "final_workers": timeline[-1]["workers"], "run_kept_going": timeline[-1]["env_steps_per_s"] > 0}))
    plan.stop()
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
