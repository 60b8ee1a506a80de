"""Every GPU figure of rayrl in one prepared run of at most 8 minutes, for a GPU machine lent now and then.

    python3 benchmarks/gpu_check.py OUT_DIR            # on the GPU machine, from the project root
    python benchmarks/gpu_check.py OUT_DIR --smoke     # the same parts at tiny sizes on the CPU, at once (in a test)

On a machine without Ray (the GPU machine has torch but no package index), it first installs the wheels that
``../shared/tools/gpu-wheels`` built into ``.whl`` (``--wheels``) into a folder of their own and runs again with
them on the path. Then each part runs in a process of its own with a time limit, so that one failing part leaves
the others' figures, and the limits are cut to what is left of the run's 470 s:

1. ``learner_device``: a few updates of IMPALA and Ape-X on CartPole; the learner trains on CUDA and every CPU
   worker acts with weights it published (``learner_device.py``).
2. ``raw_pong``: ALE/Pong-v5 stepped with random actions by 16 processes of 16 envs for 20 s, the limit for (3)
   (``env_step_rate.py``).
3. ``impala_pong``: IMPALA on Pong with 15 rollout workers of 16 envs for 90 s: env steps/s, learner samples/s,
   the GPU's utilisation (``throughput.py``).
4. ``apex_learner``: Ape-X on Pong with 15 workers of 16 envs for 60 s: learner batches/s of 512 on the Nature CNN
   (the paper: about 19), env steps/s, the GPU's utilisation.
5. ``rllib_impala_pong``: RLlib's IMPALA with the same workers and envs per worker, its learner on the GPU, for 90 s
   (``rllib_impala_throughput.py``).

Each part's JSON line goes to ``OUT_DIR/<part>.json`` (``{"part", "error"}`` where it failed), their stderr to
``OUT_DIR/stderr.log``, and the summary table, printed at the end, to ``OUT_DIR/summary.txt``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
STARTED = float(os.environ.get("RAYRL_GPU_CHECK_STARTED", time.time()))
"""When the run began: before the wheels' install, where this is the second run after it."""
SITE = "/tmp/rayrl-gpu-check-site"
"""Where the wheels are installed on a machine without Ray; the marker in the environment of the second run."""


@dataclass(frozen=True)
class Sizes:
    workers: int = 15  # rollout workers: a core each, one left for the learner
    envs_per_worker: int = 16
    processes: int = 16  # raw step rate: every core
    updates: int = 30  # learner_device's updates per algorithm
    device_check_workers: int = 2  # learner_device's CPU workers per algorithm
    raw_seconds: float = 20
    impala_seconds: float = 90
    impala_warmup: float = 10
    apex_seconds: float = 60
    apex_warmup: float = 15
    apex_replay: tuple[str, ...] = ("learning_starts=20000", "buffer_size=1000000")
    rllib_seconds: float = 90
    rllib_warmup: float = 15  # its first three reports are left out
    rllib_report_seconds: float = 5  # RLlib's iteration (10 s by default for IMPALA): only how often it reports
    gpus: int = 1
    parts_at_once: int = 1  # the full run's parts each need the whole machine


SMOKE = Sizes(workers=1, envs_per_worker=2, processes=2, updates=3, device_check_workers=1, raw_seconds=1,
              impala_seconds=1, impala_warmup=1, apex_seconds=1, apex_warmup=2,
              apex_replay=("batch_size=32", "learning_starts=200", "buffer_size=5000", "num_replay_shards=1"),
              rllib_seconds=2, rllib_warmup=2, rllib_report_seconds=0.5, gpus=0,
              parts_at_once=5)  # their time is mostly start-up latency: together they take half as long


BUDGET_S = 470
"""The whole run's time, the wheels' install included: the parts' limits are cut to what is left of it."""


def parts(s: Sizes) -> list[tuple[str, list[str], float]]:
    """(name, script and arguments, time limit in seconds) of each part, in the order they run: the figures that
    matter most first, so that a run cut short by its budget loses RLlib's side of the comparison."""
    pong = ["--env", "ALE/Pong-v5"]
    side_by_side = [*pong, "--workers", str(s.workers), "--envs-per-worker", str(s.envs_per_worker)]
    return [
        ("learner_device", ["learner_device.py", "--updates", str(s.updates), "--workers", str(s.device_check_workers),
                            *(["--require-cuda"] if s.gpus else [])], 90),
        ("raw_pong", ["env_step_rate.py", *pong, "--processes", str(s.processes), "--envs-per-process",
                      str(s.envs_per_worker), "--seconds", str(s.raw_seconds)], 45),
        ("impala_pong", ["throughput.py", "--algo", "impala", *side_by_side, "--seconds", str(s.impala_seconds),
                         "--warmup", str(s.impala_warmup)], 150),
        ("apex_learner", ["throughput.py", "--algo", "apex", *side_by_side, "--seconds", str(s.apex_seconds),
                          "--warmup", str(s.apex_warmup), "--set", *s.apex_replay], 120),
        ("rllib_impala_pong", ["rllib_impala_throughput.py", *side_by_side, "--seconds", str(s.rllib_seconds),
                               "--warmup", str(s.rllib_warmup), "--report-seconds", str(s.rllib_report_seconds),
                               "--gpus", str(s.gpus)], 150),
    ]


def refuse(problem: str) -> None:
    """One line on stderr and exit code 2, as rayrl's own commands do for what cannot run."""
    print(f"gpu_check: {problem}", file=sys.stderr)
    sys.exit(2)


def ensure_ray(wheels: Path) -> None:
    """Install ``wheels`` and run this script again with them on the path, where Ray is missing."""
    if importlib.util.find_spec("ray") is not None:
        return
    if os.environ.get("RAYRL_GPU_CHECK_SITE") or not list(wheels.glob("*.whl")):
        refuse(f"Ray is not installed and {wheels} holds no wheels: build them with ../shared/tools/gpu-wheels from "
               "the project root, and carry .whl to this machine")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", SITE, *map(str, wheels.glob("*.whl"))], check=True)
    env = dict(os.environ, RAYRL_GPU_CHECK_SITE=SITE, RAYRL_GPU_CHECK_STARTED=str(STARTED),
               PYTHONPATH=os.pathsep.join(filter(None, [SITE, os.environ.get("PYTHONPATH")])))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run_part(name: str, argv: list[str], limit: float, deadline: float, out: Path) -> tuple[dict, str]:
    """Run one part's script for at most ``limit`` seconds and not past ``deadline`` (a ``time.time()``): its JSON
    line (its last line of output) or the error that stopped it, also written to ``out/<name>.json``, and its
    stderr."""
    limit = max(1.0, min(limit, deadline - time.time()))
    # rayrl from this checkout, installed or not; the scripts import common.py from their own folder.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    # A session of its own: on a timeout the whole group goes (Ray's node processes die with their driver).
    process = subprocess.Popen([sys.executable, str(BENCHMARKS / argv[0]), *argv[1:]], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=limit)
        lines = stdout.strip().splitlines()
        result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else \
            {"error": f"exit code {process.returncode}: " + (stderr.strip().splitlines() or ["no output"])[-1]}
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        result = {"error": f"timed out after {limit:.0f} s"}
    result = {"part": name, "wall_s": round(time.perf_counter() - start, 1), **result}
    (out / f"{name}.json").write_text(json.dumps(result) + "\n")
    print(f"gpu_check: {name} done in {result['wall_s']} s{' (' + result['error'] + ')' if 'error' in result else ''}",
          flush=True)
    return result, f"===== {name}: {' '.join(argv)}\n{stderr[-20000:]}\n"


def number(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def gpu(result: dict) -> str:
    return f"GPU {number(result.get('gpu_util_mean'))}% mean, {number(result.get('gpu_util_max'))}% max" \
        if "gpu_util_mean" in result else "GPU -"


def summary(results: dict[str, dict]) -> str:
    """The table of the parts' figures, and the ratios the issue's goals are about."""
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append((name, "FAILED: " + r["error"]))
        elif name == "learner_device":
            rows.append((name, ("ok" if r["ok"] else "NOT OK") + ": " + ", ".join(
                f"{algo} on {r[algo]['learner_device']} ({r[algo]['updates']} updates, "
                f"{sum(w['matches_published'] for w in r[algo]['workers'])}/{len(r[algo]['workers'])} CPU workers "
                "with its published weights)" for algo in ("impala", "apex"))))
        elif name == "raw_pong":
            rows.append((name, f"{number(r['env_steps_per_s'])} env steps/s ({r['processes']} processes x "
                               f"{r['envs_per_process']} envs)"))
        elif name == "apex_learner":
            batch = r["trained_steps_per_s"] / r["learner_updates_per_s"] if r["learner_updates_per_s"] else None
            rows.append((name, f"{number(r['learner_updates_per_s'], 1)} learner batches/s of {number(batch)} on "
                               f"{r['learner_device']}, {number(r['env_steps_per_s'])} env steps/s, {gpu(r)}"))
        else:
            rows.append((name, f"{number(r['env_steps_per_s'])} env steps/s, {number(r.get('trained_steps_per_s'))} "
                               f"learner samples/s, {gpu(r)}"))
    impala, raw, rllib = (results.get(k, {}).get("env_steps_per_s") for k in ("impala_pong", "raw_pong",
                                                                               "rllib_impala_pong"))
    if impala and raw:
        rows.append(("impala / raw", f"{impala / raw:.2f} of the raw step rate (goal: 0.80)"))
    if impala and rllib:
        rows.append(("impala / rllib", f"{impala / rllib:.1f}x RLlib's env steps/s"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {text}" for name, text in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the parts' JSON lines, their stderr and the summary")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: checks that every part runs")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl", help="wheels to install where Ray is missing")
    args = parser.parse_args()

    ensure_ray(args.wheels)
    if not args.smoke:
        import torch

        if not torch.cuda.is_available():
            refuse("no CUDA device here: run it on the GPU machine, or with --smoke on a CPU")
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = SMOKE if args.smoke else Sizes()
    with ThreadPoolExecutor(sizes.parts_at_once) as pool:
        runs = {name: pool.submit(run_part, name, argv, limit, STARTED + BUDGET_S, args.out)
                for name, argv, limit in parts(sizes)}
        results = {name: run.result()[0] for name, run in runs.items()}
        (args.out / "stderr.log").write_text("".join(run.result()[1] for run in runs.values()))
    table = summary(results) + f"\n(the whole run: {time.time() - STARTED:.0f} s)"
    (args.out / "summary.txt").write_text(table + "\n")
    print(table)
    sys.exit(0 if all("error" not in r for r in results.values()) and results["learner_device"]["ok"] else 1)


if __name__ == "__main__":
    main()
