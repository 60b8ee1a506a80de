"""Elastic rollout workers on a real multi-node Ray (one raylet per node, on this machine), nodes added and removed
by hand: the plan's side of what test_autoscaling.py shows with the autoscaler."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cluster


def test_workers_grow_as_nodes_join_and_shrink_as_one_leaves():
    # A subprocess: this test needs its own multi-node cluster, not the session's single-node Ray.
    result = subprocess.run([sys.executable, "benchmarks/elastic_workers.py", "--phase-seconds", "7"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    counts = [row["workers"] for row in report["timeline"]]
    assert counts[0] == 1
    assert report["max_workers_seen"] == 3, counts
    assert report["final_workers"] == 2, counts
    assert report["run_kept_going"]
    assert all(row["worker_restarts"] == 0 for row in report["timeline"]), "the lost worker was replaced, not dropped"
