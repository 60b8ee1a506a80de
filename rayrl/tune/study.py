"""Hyperparameter studies: a tune_configs YAML (base config, search space, stop, metric, scheduler) as a Tuner.

    algo: impala
    config: {env: CartPole-v1, ...}           # fixed config keys
    search: {lr: {loguniform: [1.0e-4, 3.0e-3]}}   # see search_space.py
    num_samples: 4                            # samples of the search space (grid entries multiply it)
    metric: episode_return_mean               # what schedulers and the results table rank by
    mode: max
    stop: {episode_return_mean: 450, time_total_s: 120}
    scheduler: {type: asha, max_t: 60, grace_period: 5}     # or:
    scheduler: {type: pbt, time_attr: timesteps_total, perturbation_interval: 200000,
                hyperparam_mutations: {lr: {loguniform: [1.0e-4, 1.0e-2]}, entropy_cost: {uniform: [0, 0.02]}}}

PBT perturbs a running trial through checkpoints: Tune saves the trial, restarts it with the mutated config and
loads the checkpoint, so the new learning rate and entropy cost apply to the trained weights and counters.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ray import tune

from rayrl.algorithms import registry
from rayrl.config import build_config, check_stop, load_yaml
from rayrl.errors import RayrlError, did_you_mean
from rayrl.tune.search_space import parse_domain, parse_search_space

STUDY_KEYS = ("algo", "config", "search", "num_samples", "metric", "mode", "stop", "scheduler",
              "max_concurrent_trials")


@dataclass
class Study:
    algo: registry.Algorithm
    config: Any
    """The algorithm's config built from its preset and the fixed keys; the search space overrides some keys."""
    search: dict[str, Any] = field(default_factory=dict)
    num_samples: int = 1
    metric: str = "episode_return_mean"
    mode: str = "max"
    stop: dict[str, float] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    max_concurrent_trials: int | None = None


def load_study(path: str, overrides: dict[str, Any]) -> Study:
    """Read and check a study file; ``overrides`` (``--set``) replace fixed config keys."""
    data = load_yaml(path)
    for key in data:
        if key not in STUDY_KEYS:
            hint = did_you_mean(key, STUDY_KEYS, f"; use {', '.join(STUDY_KEYS)}")
            raise RayrlError(f"unknown key '{key}' in study file {path}{hint}")
    if "algo" not in data or "config" not in data:
        raise RayrlError(f"study file {path} needs 'algo:' and 'config:' (see tune_configs/impala/cartpole.yaml)")
    algo = registry.get(data["algo"])
    fixed = {**(data["config"] or {}), **overrides}
    if "env" not in fixed:
        raise RayrlError(f"study file {path} needs config: env: (a gymnasium id or package.module:ClassName)")
    config = build_config(algo.config_cls, algo.preset_for(fixed["env"]), fixed)
    keys = [f.name for f in dataclasses.fields(algo.config_cls)]
    study = Study(algo, config, search=parse_search_space(data.get("search"), keys),
                  num_samples=int(data.get("num_samples", 1)), metric=data.get("metric", "episode_return_mean"),
                  mode=data.get("mode", "max"), stop=check_stop(data.get("stop") or {}, path),
                  scheduler=dict(data.get("scheduler") or {}), max_concurrent_trials=data.get("max_concurrent_trials"))
    if study.mode not in ("max", "min"):
        raise RayrlError(f"study file {path}: mode must be 'max' or 'min', not {study.mode!r}")
    if study.num_samples < 1:
        raise RayrlError(f"study file {path}: num_samples must be 1 or more")
    make_scheduler(study)  # fail now, in one line, on a bad scheduler section
    return study


def make_scheduler(study: Study):
    """ASHA or Population Based Training from the ``scheduler:`` section (none: FIFO)."""
    options = dict(study.scheduler)
    kind = str(options.pop("type", "fifo")).lower()
    if kind == "fifo":
        return None
    if kind == "asha":
        try:
            return tune.schedulers.ASHAScheduler(**options)
        except TypeError as e:
            raise RayrlError(f"bad ASHA scheduler options {options}: {e}") from None
    if kind == "pbt":
        mutations = options.pop("hyperparam_mutations", None)
        if not mutations:
            raise RayrlError("a pbt scheduler needs hyperparam_mutations, e.g. {lr: {loguniform: [1.0e-4, 1.0e-2]}}")
        keys = [f.name for f in dataclasses.fields(study.algo.config_cls)]
        domains = parse_search_space(mutations, keys)
        try:
            return tune.schedulers.PopulationBasedTraining(hyperparam_mutations=domains, **options)
        except TypeError as e:
            raise RayrlError(f"bad PBT scheduler options {options}: {e}") from None
    raise RayrlError(f"unknown scheduler type '{kind}'; use asha, pbt or fifo")


def param_space(study: Study) -> dict[str, Any]:
    """The trial config Tune samples: fixed keys, the search domains, and PBT's mutated keys' initial draws."""
    from rayrl.tune.trainable import trial_config

    space = trial_config(study.algo.name, study.config)
    space.update(study.search)
    for key, spec in (study.scheduler.get("hyperparam_mutations") or {}).items():
        if key not in study.search:
            space[key] = parse_domain(key, spec)
    return space


def largest_trial(study: Study):
    """The config of the study's largest trial (num_workers may be searched over), for placement checks."""
    workers = study.search.get("num_workers")
    most = max(workers["grid_search"]) if isinstance(workers, dict) else study.config.num_workers
    return dataclasses.replace(study.config, num_workers=most)


def results_table(results, study: Study) -> str:
    """One row per trial: its searched values, the metric, env steps, training time and how it ended."""
    searched = sorted(set(study.search) | set(study.scheduler.get("hyperparam_mutations") or {}))
    header = ["trial", *searched, study.metric, "env steps", "time s", "status"]
    rows = []
    for result in results:
        metrics = result.metrics or {}
        config = result.config or {}
        reached = any(metrics.get(key, -math.inf) >= value for key, value in study.stop.items())
        if result.error:
            status = "error"
        elif not metrics.get("done"):
            status = "unfinished"
        else:
            status = "stop criterion" if reached else "stopped by scheduler"
        rows.append([
            metrics.get("trial_id", "?"),
            *[_fmt(config.get(k)) for k in searched],
            _fmt(metrics.get(study.metric, math.nan)),
            f"{int(metrics.get('timesteps_total', 0)):,}",
            f"{metrics.get('time_total_s', 0):.0f}",
            status,
        ])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(row, widths)) for row in [header, *rows]]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
