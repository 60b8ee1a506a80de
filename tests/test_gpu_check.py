"""benchmarks/gpu_check.py at tiny sizes on the CPU: every part of the rare GPU run still runs and reports."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("learner_device", "raw_pong", "impala_pong", "apex_learner", "rllib_impala_pong")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    # Its own local Rays, one after the other: this session's Ray is left alone (and its CPUs are free then).
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", str(out), "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    return done, out


def test_every_part_writes_its_figures_and_the_summary_names_them(smoke):
    done, out = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {part: json.loads((out / f"{part}.json").read_text()) for part in PARTS}
    assert all("error" not in r for r in results.values()), results
    assert results["raw_pong"]["env_steps_per_s"] > 0
    assert results["impala_pong"]["env_steps_per_s"] > 0 and results["impala_pong"]["trained_steps_per_s"] >= 0
    assert results["apex_learner"]["env_steps_per_s"] > 0
    # RLlib samples Pong at about 100 steps/s here and pauses for its CPU learner's updates: 2 s may count none.
    assert results["rllib_impala_pong"]["env_steps_per_s"] >= 0 and results["rllib_impala_pong"]["ray"] == "2.60.0"
    summary = (out / "summary.txt").read_text()
    assert all(part in summary for part in PARTS) and "impala / raw" in summary
    assert summary in done.stdout
    assert "=====" in (out / "stderr.log").read_text()


def test_the_learner_trains_and_every_cpu_worker_acts_with_weights_it_published(smoke):
    result = json.loads((smoke[1] / "learner_device.json").read_text())
    assert result["ok"], result
    for algo in ("impala", "apex"):
        assert result[algo]["learner_device"] == "cpu" and result[algo]["updates"] >= 3
        assert result[algo]["workers"] and all(
            w["device"] == "cpu" and w["policy_version"] > 0 and w["matches_published"] and w["trained"] and w["finite"]
            for w in result[algo]["workers"])


def test_without_ray_or_wheels_it_says_how_to_build_them(tmp_path):
    # A Python that finds no Ray: isolated mode (-I) drops PYTHONPATH and the user's site; -S the site-packages.
    done = subprocess.run([sys.executable, "-I", "-S", "benchmarks/gpu_check.py", str(tmp_path), "--wheels",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if k != "RAYRL_GPU_CHECK_SITE"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"gpu_check: Ray is not installed and {tmp_path} holds no wheels: build them with ../shared/tools/gpu-wheels "
        "from the project root, and carry .whl to this machine"]


def test_without_a_gpu_the_full_run_refuses_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpu_check: no CUDA device here: run it on the GPU machine, or with --smoke on a CPU"]
    assert not (tmp_path / "out").exists()


def test_a_part_past_its_time_limit_is_stopped_with_its_children_and_the_next_parts_go_on(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", gpu_check)  # where its dataclass looks itself up
    spec.loader.exec_module(gpu_check)
    child_pid = tmp_path / "child.pid"
    script = tmp_path / "stuck.py"  # a part whose own child (as Ray's node processes) would outlive it
    script.write_text(f"import subprocess, sys, time\n"
                      f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                      f"open({str(child_pid)!r}, 'w').write(str(child.pid))\n"
                      f"print('started', flush=True)\ntime.sleep(60)\n")
    result, stderr = gpu_check.run_part("stuck", [str(script)], 30, time.time() + 3, tmp_path)  # the run's budget
    assert result["error"] == "timed out after 3 s" and result["wall_s"] < 10 and stderr.startswith("===== stuck")
    assert json.loads((tmp_path / "stuck.json").read_text()) == result
    pid = int(child_pid.read_text())
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert "stuck  FAILED: timed out after 3 s" in gpu_check.summary({"stuck": result})


def test_the_gpu_monitor_reads_nvidia_smi_samples_over_its_window(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"  # prints as `nvidia-smi --query-gpu=... --format=csv,noheader,nounits -lms`
    fake.write_text("#!/bin/sh\nprintf '37, 1200\\n[N/A], [N/A]\\n55, 1300\\n'\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from common import GpuMonitor

    with GpuMonitor() as gpu:
        deadline = time.monotonic() + 10
        while len(gpu.samples) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert gpu.summary() == {"gpu_util_mean": 46.0, "gpu_util_max": 55.0, "gpu_memory_max_mb": 1300.0}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with GpuMonitor() as gpu:
        pass
    assert gpu.summary() == {}
