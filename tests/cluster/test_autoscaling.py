"""Autoscaling on demand, on Ray's fake multi-node provider: the autoscaler launches and removes real raylets on this
machine as the nodes of a node type (ray.cluster_utils.AutoscalingCluster, which Ray's own autoscaler tests use).

A study whose trials need more CPUs than the head has makes the autoscaler add nodes, the trials run there, and the
nodes go once idle; an elastic run (max_workers) grows its rollout workers onto the nodes it asks for, shrinks when
one goes (killed, as a spot node is), and gives the nodes back at its end. Each test prints the worker-node count
over time. These tests start and stop their own Ray (``ray stop --force``), so they run apart from the suite:
``python -m pytest -m cluster``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import ray
from ray.cluster_utils import AutoscalingCluster

from tests.cluster.polling import wait_for

pytestmark = pytest.mark.cluster

HEAD_CPUS = 3
NODE_CPUS = 2
MAX_NODES = 3
RAYRL = [sys.executable, "-m", "rayrl.cli"]  # this venv's rayrl, whatever PATH holds


class FakeAutoscalingCluster(AutoscalingCluster):
    """AutoscalingCluster with its base config written here: Ray's wheel leaves out the example.yaml it reads."""

    def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **config_kwargs):
        return {
            "cluster_name": "rayrl-autoscaling-test", "max_workers": MAX_NODES, "head_node_type": "ray.head.default",
            "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                         "disable_launch_config_check": True},
            "available_node_types": {
                "ray.head.default": {"resources": dict(head_resources), "node_config": {}, "max_workers": 0},
                **worker_node_types},
            "auth": {}, "docker": {}, "upscaling_speed": 1.0, "file_mounts": {}, "cluster_synced_files": [],
            "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
            "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
            "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
            **config_kwargs,
        }


@pytest.fixture(scope="module")
def cluster():
    """A 3-CPU head and up to 3 nodes of 2 CPUs, launched on demand and removed after 6 idle seconds."""
    cluster = FakeAutoscalingCluster(
        head_resources={"CPU": HEAD_CPUS},
        worker_node_types={"cpu2": {"resources": {"CPU": NODE_CPUS}, "node_config": {}, "min_workers": 0,
                                    "max_workers": MAX_NODES}},
        idle_timeout_minutes=0.1)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # its `ray start`
    # Node deaths seen in about 3 s rather than 30 (a killed node's actors fail over sooner).
    cluster.start(_system_config={"health_check_period_ms": 1000, "health_check_failure_threshold": 3})
    ray.init(address="auto", log_to_driver=False, logging_level=logging.WARNING)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


class NodeWatch(threading.Thread):
    """Every half second: the alive worker nodes (not the head) and, per placement group (one per trial), the
    nodes its bundles are on."""

    def __init__(self):
        super().__init__(daemon=True)
        self.start_time = time.time()
        self.timeline: list[tuple[float, int]] = []
        self.trial_nodes: dict[str, set[str]] = {}
        self.names: dict[str, str] = {}
        self.stopped = threading.Event()

    def name(self, node_id: str) -> str:
        """'head', or 'node1', 'node2', ... in the order the nodes joined."""
        if node_id == head_id():
            return "head"
        return self.names.setdefault(node_id, f"node{len(self.names) + 1}")

    def nodes(self) -> list[str]:
        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != head_id()]

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            time.sleep(0.5)

    def sample(self) -> None:
        count = len([self.name(n) for n in self.nodes()])
        if not self.timeline or self.timeline[-1][1] != count:
            self.timeline.append((round(time.time() - self.start_time, 1), count))
        for pg_id, pg in ray.util.placement_group_table().items():
            if pg["state"] == "CREATED":
                self.trial_nodes.setdefault(pg_id, set()).update(pg["bundles_to_node_id"].values())

    def finish(self) -> None:
        self.stopped.set()
        self.join()
        self.sample()

    def wait_for_nodes(self, count: int, timeout: float) -> bool:
        return wait_for(lambda: len(self.nodes()) == count, timeout)

    def report(self, what: str) -> str:
        lines = [f"{what}: worker nodes over time: " + " -> ".join(f"{n} (t={t:g}s)" for t, n in self.timeline)]
        for i, nodes in enumerate(self.trial_nodes.values()):
            lines.append(f"  trial {i}: bundles on {', '.join(sorted(self.name(n) for n in nodes))}")
        return "\n".join(lines)


def rayrl(*args: str, address: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([*RAYRL, *args, "--address", address], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "RAY_DEDUP_LOGS": "0"})


def test_a_study_that_needs_more_cpus_than_the_head_gets_nodes_that_go_once_idle(cluster, tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("algo: impala\nconfig: {env: CartPole-v1, num_workers: 2, learner_gpus: 0}\n"
                     "search: {lr: {grid: [0.0005, 0.001]}}\nstop: {time_total_s: 10}\n")
    watch = NodeWatch()
    watch.start()
    done = rayrl("tune", str(study), "--storage-path", str(tmp_path / "runs"), address=cluster_address(),
                 timeout=300)
    gone = watch.wait_for_nodes(0, timeout=90)
    watch.finish()
    with capsys.disabled():
        print("\n" + watch.report("study of 2 trials x 3.5 CPUs on a 3-CPU head"))
    assert done.returncode == 0, done.stderr[-3000:]
    counts = [n for _, n in watch.timeline]
    assert counts[0] == 0 and max(counts) >= 2, watch.timeline  # 7 CPUs of trials: at least 2 nodes beside the head
    assert len(watch.trial_nodes) == 2 and all(len(nodes - {head_id()}) >= 1 for nodes in watch.trial_nodes.values())
    assert gone and counts[-1] == 0, watch.timeline


def test_an_elastic_run_grows_onto_the_nodes_it_asks_for_and_shrinks_when_one_goes(cluster, tmp_path, capsys):
    runs = tmp_path / "runs"
    watch = NodeWatch()
    watch.start()
    run = subprocess.Popen([*RAYRL, "train", "impala", "--env", "CartPole-v1", "--set", "num_workers=1",
                            "max_workers=4", "learner_gpus=0", "report_seconds=1", "--stop-seconds", "25",
                            "--storage-path", str(runs), "--address", cluster_address()],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # 4 workers up and running, and a report to date the kill by (the workers can grow before the first report).
    grown = wait_for(lambda: sum(workers_per_node().values()) == 4 and "time_total_s" in last_report(runs), timeout=90)
    killed_at, placed = None, {}
    if grown:
        placed = {watch.name(node): count for node, count in workers_per_node().items()}
        killed_at = last_report(runs).get("time_total_s")
        kill_node(next(node for node in workers_per_node() if node != head_id()))
    output, _ = run.communicate(timeout=180)
    gone = watch.wait_for_nodes(0, timeout=90)
    watch.finish()
    workers = [(round(r["time_total_s"]), r["num_workers"]) for r in reports(runs)]
    with capsys.disabled():
        print("\n" + watch.report("elastic IMPALA run, num_workers=1, max_workers=4, a node with workers killed "
                                  f"at t={killed_at:.0f}s of training"))
        print(f"  rollout workers per node at 4: {placed}; over training time: " + " -> ".join(
            f"{n} (t={t}s)" for i, (t, n) in enumerate(workers) if i == 0 or workers[i - 1][1] != n))
    assert run.returncode == 0, output[-3000:]
    assert grown, workers
    # The trial's own worker fills the head (2.5 of its 3 CPUs reserved): the 3 extra ones run on added nodes.
    assert placed.get("head") == 1 and sum(placed.values()) == 4, placed
    after_kill = [n for t, n in workers if t > killed_at]
    assert min(after_kill) < 4, workers  # the killed node's workers were dropped, the run went on
    assert workers[-1][0] >= 23, workers  # ... to its stop criterion
    assert gone and [n for _, n in watch.timeline][-1] == 0, watch.timeline


def workers_per_node() -> dict[str, int]:
    """How many rollout workers run (created and alive) on each node."""
    from ray.util.state import list_actors

    placed: dict[str, int] = {}
    for actor in list_actors(filters=[("class_name", "=", "RolloutWorker"), ("state", "=", "ALIVE")]):
        placed[actor.node_id] = placed.get(actor.node_id, 0) + 1
    return placed


def cluster_address() -> str:
    return ray.get_runtime_context().gcs_address


def head_id() -> str:
    return ray.get_runtime_context().get_node_id()  # this driver runs on the head


def reports(runs: Path) -> list[dict]:
    files = list(runs.glob("*/*/result.json"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def last_report(runs: Path) -> dict:
    rows = reports(runs)
    return rows[-1] if rows else {}



def kill_node(node_id: str) -> None:
    """Kill a fake node's raylet, as a cloud takes a spot node back: its workers die with it."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "raylet":
            try:
                if process.environ().get("RAY_OVERRIDE_NODE_ID_FOR_TESTING") == node_id:
                    process.kill()
                    return
            except psutil.Error:
                continue
    raise AssertionError(f"no raylet of node {node_id}")
