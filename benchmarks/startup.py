"""Seconds from ``rayrl train``'s start to its first progress line, by phase, warm or cold.

    python benchmarks/startup.py [--algo impala] [--env CartPole-v1] [--runs 3] [--cold]

Runs ``rayrl train ALGO --env ENV --stop-seconds 2`` as a user would, ``--runs`` times, and prints one JSON line: per
run the wall time to the line that names the run directory (Python imports, config and env checks, a local Ray
started), to the first progress line, and from the trial's ``result.json`` the first iteration's own time; what
lies between is Tune starting the trial and the plan starting its actors. Python writes bytecode, as on a user's
machine; ``--cold`` makes each run a first run: rayrl's bytecode removed and the page cache dropped (where this user
may) before it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rayrl

PROGRESS = re.compile(r"^\s*[\d.]+s\s+steps\s")


def make_cold() -> bool:
    """Remove rayrl's bytecode and drop the page cache; whether the cache could be dropped."""
    for cache in Path(rayrl.__file__).parent.rglob("__pycache__"):
        shutil.rmtree(cache)
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_once(algo: str, env: str, storage: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "rayrl.cli", "train", algo, "--env", env, "--stop-seconds", "2",
           "--storage-path", storage]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as on a user's machine
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    ray_up = first_line = None
    for line in proc.stdout:
        if ray_up is None and line.startswith("rayrl: training"):
            ray_up = time.time() - start
        elif first_line is None and PROGRESS.match(line):
            first_line = time.time() - start
    if proc.wait() != 0 or first_line is None:
        raise SystemExit(f"rayrl train failed (exit code {proc.returncode})")
    (result,) = Path(storage).rglob("result.json")
    first_iteration = json.loads(result.read_text().splitlines()[0])["time_this_iter_s"]
    return {"imports_checks_ray_s": round(ray_up, 2),
            "trial_and_actors_s": round(first_line - ray_up - first_iteration, 2),
            "first_iteration_s": round(first_iteration, 2), "first_line_s": round(first_line, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="impala")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="each run a first run (see above)")
    args = parser.parse_args()
    runs, dropped = [], []
    for _ in range(args.runs):
        if args.cold:
            dropped.append(make_cold())
        with tempfile.TemporaryDirectory() as storage:
            runs.append(run_once(args.algo, args.env, storage))
    firsts = [run["first_line_s"] for run in runs]
    print(json.dumps({"benchmark": "startup", "algo": args.algo, "env": args.env, "cold": args.cold,
                      "page_cache_dropped": all(dropped) if args.cold else None, "runs": runs,
                      "first_line_s_median": statistics.median(firsts), "first_line_s_max": max(firsts)}))


if __name__ == "__main__":
    main()
