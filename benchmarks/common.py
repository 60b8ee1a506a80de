"""What the throughput benchmarks share: the side-by-side arguments, the local Ray they start, the actors' memory
and the GPU's utilisation while they measure."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import threading

import ray


def throughput_parser(doc: str, *, warmup: float) -> argparse.ArgumentParser:
    """--env, --workers, --envs-per-worker, --seconds, --warmup: the same meaning for rayrl and RLlib."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--envs-per-worker", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured wall time")
    parser.add_argument("--warmup", type=float, default=warmup, help="excluded start-up time")
    return parser


def start_local_ray(workers: int) -> None:
    """A local Ray with a CPU per worker, one for the learner and one for the driver, at least the machine's."""
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, workers + 2), include_dashboard=False,
             logging_level=logging.WARNING)


def actor_private_mb() -> dict[str, int]:
    """Private resident memory (MB, ``RssAnon``) of this machine's Ray actor processes, summed per actor class
    (``ray::ReplayShard``...): what the actors hold themselves. Pages of the object store, shared memory that a
    process maps while it reads or writes objects, are left out. Read from /proc (Linux); empty elsewhere."""
    totals: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                name = f.read().split(b"\0")[0].decode(errors="replace")
            with open(f"/proc/{pid}/status") as f:
                rss_kb = next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))
        except (OSError, StopIteration):  # gone, or a kernel thread
            continue
        if name.startswith("ray::"):
            role = name.split(".")[0].split()[0]
            totals[role] = totals.get(role, 0) + rss_kb // 1024
    return totals


class GpuMonitor:
    """The first GPU's utilisation and memory from ``nvidia-smi`` every half second while the ``with`` block runs
    (a benchmark's measured window; the learner's GPU on a one-GPU machine); :meth:`summary` is empty on a machine
    without ``nvidia-smi``."""

    QUERY = ["nvidia-smi", "--id=0", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
             "-lms", "500"]

    def __init__(self):
        self.samples: list[tuple[float, float]] = []  # (utilisation %, memory used MB)
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> GpuMonitor:
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(self.QUERY, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            try:
                util, memory = (float(field) for field in line.split(","))
            except ValueError:  # "[N/A]" or a message rather than a sample
                continue
            self.samples.append((util, memory))

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
            self._reader.join(timeout=2)

    def summary(self) -> dict[str, float]:
        """``gpu_util_mean`` and ``gpu_util_max`` (%) and ``gpu_memory_max_mb`` over the window, or nothing."""
        if not self.samples:
            return {}
        utils, memories = zip(*self.samples, strict=True)
        return {"gpu_util_mean": round(sum(utils) / len(utils), 1), "gpu_util_max": max(utils),
                "gpu_memory_max_mb": max(memories)}
