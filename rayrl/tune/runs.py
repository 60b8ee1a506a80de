"""What every Tune run of rayrl shares: the Ray it runs on and its RunConfig (output, checkpoints, retries)."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own console output off: ProgressPrinter speaks

from ray import tune  # noqa: E402  (after the environment variable above)

from rayrl.logging import ProgressPrinter  # noqa: E402


def start_ray(address: str | None, cpus_needed: float, actors: int = 1) -> None:
    """Join the cluster at ``address``, or start a local Ray with enough logical CPUs for one trial of ``actors``
    actors (its process, learners, workers, evaluator), set up to start them fast (see :func:`_start_fast`)."""
    import ray

    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    # Ray turns token authentication on for a new local cluster and says so in a WARNING line: keep the feature,
    # drop the line, so the first console line is rayrl's.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    cpus = max(os.cpu_count() or 1, math.ceil(cpus_needed))
    system_config = _start_fast(cpus, actors)
    # address="local": a new Ray of our own, even if `ray start` left a cluster running on this machine.
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
             _system_config=system_config)


def _start_fast(cpus: int, actors: int) -> dict[str, Any]:
    """A local run's first report in seconds, not in three rounds of torch imports (docs/results.md, start-up).

    Every actor of a trial imports torch (about a second): the trial process, then, once it has, its learner and
    workers. A local Ray prestarts a worker process per CPU while it starts; here they import torch then
    (``preload_python_modules``), and the trial and its actors run in them: Tune's trial actors otherwise carry a
    runtime env (``PL_DISABLE_FORK``, for PyTorch Lightning, which rayrl does not use) that rules prestarted workers
    out, and idle workers are kept for the trial (``num_workers_soft_limit``) rather than killed when its placement
    group takes the CPUs. Returns Ray's system config."""
    try:  # a private name of Tune's: if it moves, runs start as fast as they did before
        from ray.tune.execution import class_cache

        class_cache.DEFAULT_ENV_VARS.pop("PL_DISABLE_FORK", None)
    except (ImportError, AttributeError):
        pass
    return {"preload_python_modules": ["torch"], "num_workers_soft_limit": max(cpus, actors)}


class ContinuedLogs(tune.Callback):
    """A run continued in its own trial directory (``rayrl train --resume``) appends to the ``result.json`` and
    ``progress.csv`` there. Tune's loggers append to the copies in the Ray session's staging directory, which it
    then copies over the trial directory's; so the trial directory's files are put there first (callbacks run
    before Tune's own loggers). A fresh trial has none; a trial Tune restores itself has its copies already."""

    def on_trial_start(self, iteration, trials, trial, **info):
        if "://" in trial.path:  # remote storage: Tune restores these only for its own restores
            return
        for name in ("result.json", "progress.csv"):
            source, staged = Path(trial.path, name), Path(trial.local_path, name)
            if source.is_file() and not staged.exists():
                staged.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, staged)


def run_config(*, name: str, storage_path: str, stop: dict[str, Any] | None, start: float,
               checkpoint_every: int, max_failures: int, callbacks: Sequence[tune.Callback] = (),
               progress: bool = True) -> tune.RunConfig:
    """Progress lines on the console (unless not ``progress``; and ``callbacks``), TensorBoard files and rotated checkpoints in the run
    directory, retries."""
    return tune.RunConfig(
        name=name,
        storage_path=storage_path,
        stop=stop or None,
        verbose=0,
        callbacks=[*([ProgressPrinter(start)] if progress else []), ContinuedLogs(), *callbacks],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=3, checkpoint_frequency=max(1, checkpoint_every),
                                                checkpoint_at_end=True),
        failure_config=tune.FailureConfig(max_failures=max_failures),
    )
