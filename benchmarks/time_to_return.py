"""Wall time from the command's start to a mean return (last 100 episodes), over several seeds.

    python benchmarks/time_to_return.py impala CartPole-v1 --target 450 --seeds 0 1 2 [--set key=value ...]

Runs ``rayrl train ALGO --env ENV --stop-return TARGET --stop-seconds LIMIT`` once per seed, as a user would, and
prints one JSON line: per seed the wall time to the first progress line and to the target (null if not reached).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time

LINE = re.compile(r"^\s*(?P<t>[\d.]+)s\s+steps\s+(?P<steps>[\d,]+)\s.*return\s+(?P<ret>[-\d.]+)")


def run_seed(args, seed: int, storage: str) -> dict:
    cmd = [sys.executable, "-m", "rayrl.cli", "train", args.algo, "--env", args.env, "--stop-return",
           str(args.target), "--stop-seconds", str(args.limit), "--storage-path", storage,
           "--set", f"seed={seed}", *args.set]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first_line = reached = None
    last_return = last_steps = None
    for line in proc.stdout:
        match = LINE.match(line)
        if not match:
            continue
        first_line = first_line or time.time() - start
        last_return, last_steps = float(match["ret"]), int(match["steps"].replace(",", ""))
        if reached is None and last_return >= args.target:
            reached = time.time() - start
    proc.wait()
    return {"seed": seed, "first_line_s": first_line, "reached_s": reached, "final_return": last_return,
            "env_steps": last_steps, "exit_code": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("algo")
    parser.add_argument("env")
    parser.add_argument("--target", type=float, default=450.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=float, default=120.0, help="--stop-seconds of each run")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides passed to --set")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as storage:
        runs = [run_seed(args, seed, storage) for seed in args.seeds]
    times = [r["reached_s"] for r in runs]
    print(json.dumps({
        "benchmark": "time_to_return", "algo": args.algo, "env": args.env, "target": args.target,
        "overrides": args.set, "runs": runs,
        "max_reached_s": max(times) if all(t is not None for t in times) else None,
    }))


if __name__ == "__main__":
    main()
