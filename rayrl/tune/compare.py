"""Algorithms side by side on one env (``rayrl compare``): one Tune study of algorithm x seed, every trial with the
same budget of training time, then a table and the learning curves against training seconds.

Each trial's config names its algorithm, the env, its seed and the ``--set`` keys only (the rest comes from the
algorithm's preset for the env, as for a user's own Tuner over ``rayrl.Trainable``), so one Tuner runs several
algorithms, each trial in its own placement group. Everything is checked before Ray starts: each algorithm's config
and whether it can handle the env (DQN and continuous actions), each in one line naming the algorithm.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ray import tune

from rayrl.algorithms import registry
from rayrl.errors import RayrlError

CHECKPOINT_SECONDS = 60.0
"""Checkpoint period of each trial (and one at the end, to evaluate each algorithm's agent afterwards)."""
MAX_FAILURES = 2
"""Restarts of a crashed trial from its checkpoint; its training time counts on from the checkpoint's."""


@dataclass(frozen=True)
class Comparison:
    """A checked comparison: the algorithms' configs on the env, the seeds and the training time of each trial."""

    env: str
    configs: dict[str, Any]
    """Algorithm name -> its config (preset for the env, then the overrides), in the order the user named them."""
    overrides: dict[str, Any]
    seeds: list[int]
    seconds: float
    target: float | None
    transition_bytes: int
    """What a replay transition of the env costs, for the memory check."""

    @property
    def largest_trial(self):
        """The config whose trial reserves the most CPUs, for the placement checks."""
        from rayrl.tune.placement import required_cpus

        return max(self.configs.values(), key=required_cpus)

    @property
    def largest_replay(self):
        """The config with the largest replay, for the memory check."""
        return max(self.configs.values(), key=lambda config: getattr(config, "buffer_size", 0))


def prepare_comparison(algo_names: Sequence[str], env: str, *, seconds: float, seeds: int, target: float | None,
                       overrides: Mapping[str, Any]) -> Comparison:
    """Build and check each algorithm's config on ``env`` before Ray starts; ``overrides`` (``--set``) apply to
    every algorithm, so each of them must have the key. ``target`` None: the env's reward_threshold, if any."""
    from rayrl.config import build_config
    from rayrl.training import check_env

    names = [name.strip() for name in algo_names if name.strip()]
    if not names:
        raise RayrlError(f"name the algorithms to compare, e.g. 'rayrl compare impala,dqn'; known: "
                         f"{', '.join(registry.names())}")
    algos = [registry.get(name) for name in names]
    configs, transition_bytes = {}, 0
    for algo in {algo.name: algo for algo in algos}.values():  # each once, in the order named
        try:
            configs[algo.name] = build_config(algo.config_cls, algo.preset_for(env), overrides, {"env": env})
            transition_bytes = check_env(algo, configs[algo.name])
        except RayrlError as e:
            raise RayrlError(f"{algo.name} on {env}: {e}") from None
    base_seed = next(iter(configs.values())).seed
    return Comparison(env, configs, dict(overrides), list(range(base_seed, base_seed + seeds)), seconds,
                      default_target(env) if target is None else target, transition_bytes)


def default_target(env: str) -> float | None:
    """The return gymnasium's registry calls solved for ``env`` (CartPole-v1: 475), if it names one."""
    import gymnasium as gym

    spec = gym.registry.get(env)  # registered by check_env where it is a gymnasium id (Atari ids on first use)
    return spec.reward_threshold if spec is not None else None


def param_space(comparison: Comparison) -> dict[str, Any]:
    """Trial configs of algorithm x seed: only what the trials share besides the algorithm's preset."""
    return {**comparison.overrides, "algo": tune.grid_search(list(comparison.configs)), "env": comparison.env,
            "seed": tune.grid_search(comparison.seeds)}


def run_comparison(comparison: Comparison, *, name: str, storage_path: str, start: float):
    """Run every trial for ``comparison.seconds`` of training; Tune's ResultGrid. Ray must be up. As many trials
    run at once as the cluster's CPUs hold, so that each trial has its reserved CPUs to itself."""
    import ray

    from rayrl.tune.placement import required_cpus
    from rayrl.tune.runs import run_config
    from rayrl.tune.trainable import RayrlTrainable

    at_once = max(1, int(ray.cluster_resources().get("CPU", 0) // required_cpus(comparison.largest_trial)))
    report_seconds = min(config.report_seconds for config in comparison.configs.values())
    tuner = tune.Tuner(
        RayrlTrainable,
        param_space=param_space(comparison),
        tune_config=tune.TuneConfig(max_concurrent_trials=at_once),
        run_config=run_config(name=name, storage_path=storage_path, stop={"time_total_s": comparison.seconds},
                              start=start, checkpoint_every=round(CHECKPOINT_SECONDS / report_seconds),
                              max_failures=MAX_FAILURES, callbacks=[AnnounceTrials()]),
    )
    return tuner.fit()


class AnnounceTrials(tune.Callback):
    """A line as each trial starts, naming its algorithm and seed (progress lines name only the trial id)."""

    def on_trial_start(self, iteration, trials, trial, **info):
        print(f"rayrl: trial {trial.trial_id}: {trial.config['algo']}, seed {trial.config['seed']}", flush=True)


class TrialHistory(NamedTuple):
    """One trial's reports, in order: dicts with ``time_total_s``, ``episode_return_mean``, ``timesteps_total``,
    ``learner_updates`` (every plan's Progress reports these)."""

    algo: str
    reports: list[dict[str, float]]


def trial_histories(results, comparison: Comparison) -> list[TrialHistory]:
    """Each trial's reports from Tune's ResultGrid, ordered by algorithm (as named) and seed."""
    order = list(comparison.configs)
    trials = []
    for result in sorted(results, key=lambda r: (order.index(r.config["algo"]), r.config["seed"])):
        frame = result.metrics_dataframe  # None for a trial that failed before its first report
        trials.append(TrialHistory(result.config["algo"], [] if frame is None else frame.to_dict("records")))
    return trials


@dataclass(frozen=True)
class AlgoSummary:
    """An algorithm's trials in numbers, each the mean over its seeds (NaN where none has one)."""

    algo: str
    seeds: int
    """Trials that reported."""
    reached: int
    """Seeds whose mean return reached the target."""
    time_to_target: float
    """Training seconds to the target, over the seeds that reached it."""
    best_return: float
    final_return: float
    env_steps_per_s: float
    updates_per_s: float


def _returns(reports: list[dict[str, float]]) -> list[tuple[float, float]]:
    """(time_total_s, episode_return_mean) of the reports that had a finished episode to average."""
    return [(r["time_total_s"], r["episode_return_mean"]) for r in reports
            if not math.isnan(r.get("episode_return_mean", math.nan))]


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def summarize(trials: Sequence[TrialHistory], target: float | None) -> list[AlgoSummary]:
    """One summary per algorithm, in the order the trials name them."""
    by_algo: dict[str, list[list[dict[str, float]]]] = {}
    for trial in trials:
        by_algo.setdefault(trial.algo, [])
        if trial.reports:
            by_algo[trial.algo].append(trial.reports)
    summaries = []
    for algo, seeds in by_algo.items():
        returns = [_returns(reports) for reports in seeds]
        hits = [next((t for t, r in points if r >= target), None) for points in returns] if target is not None else []
        times = [t for t in hits if t is not None]
        lasts = [reports[-1] for reports in seeds]
        summaries.append(AlgoSummary(
            algo, len(seeds), len(times), _mean(times),
            best_return=_mean([max((r for _, r in points), default=math.nan) for points in returns]),
            final_return=_mean([points[-1][1] if points else math.nan for points in returns]),
            env_steps_per_s=_mean([last["timesteps_total"] / last["time_total_s"] for last in lasts]),
            updates_per_s=_mean([last.get("learner_updates", math.nan) / last["time_total_s"] for last in lasts]),
        ))
    return summaries


def comparison_table(trials: Sequence[TrialHistory], target: float | None) -> str:
    """The table ``rayrl compare`` prints: a row per algorithm, each number the mean over its seeds; the time to the
    target (training seconds) only where there is a target, with how many seeds reached it."""
    header = ["algo", "seeds"]
    if target is not None:
        header += [f"time to {target:g} (s)", "reached"]
    header += ["best return", "final return", "env steps/s", "updates/s"]
    rows = []
    for s in summarize(trials, target):
        row = [s.algo, str(s.seeds)]
        if target is not None:
            row += [_number(s.time_to_target, ".1f"), f"{s.reached}/{s.seeds}"]
        row += [_number(s.best_return, ".1f"), _number(s.final_return, ".1f"), _number(s.env_steps_per_s, ",.0f"),
                _number(s.updates_per_s, ",.1f")]
        rows.append(row)
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    lines = [[x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths))]
             for row in [header, *rows]]
    return "\n".join("  ".join(line) for line in lines)


def _number(value: float, spec: str) -> str:
    return "—" if math.isnan(value) else format(value, spec)


def plot_comparison(trials: Sequence[TrialHistory], env: str, paths: Sequence[Path]) -> list[Path]:
    """The learning curves against training seconds, one line per algorithm (its seeds: mean and band), into the
    first of ``paths`` and copied to the others; returns them."""
    from rayrl.plot import Curve, draw

    groups: dict[str, list[Curve]] = {}
    for trial in trials:
        points = _returns(trial.reports)
        if points:
            x, returns = np.array(points, float).T
            groups.setdefault(f"{trial.algo} {env}", []).append(Curve(trial.algo, x, returns))
    if not groups:
        raise RayrlError("no trial finished an episode, so there are no curves to draw; give each more --seconds")
    first = draw(groups, paths[0], x="seconds")
    for path in paths[1:]:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(first, Path(path).expanduser())
    return [first, *(Path(path).expanduser() for path in paths[1:])]
