"""What the throughput benchmarks share: the side-by-side arguments and the local Ray they start."""

from __future__ import annotations

import argparse
import logging
import os

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
