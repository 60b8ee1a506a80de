"""Learning curves from the run directories Tune wrote: what ``rayrl plot`` draws (matplotlib, one PNG).

Each trial directory holds ``result.json``, one JSON line per report with ``timesteps_total``, ``time_total_s``,
``episode_return_mean`` and the trial's ``config``. A run (or study) directory is searched for them. Trials whose
configs differ only in ``seed`` are one curve: the mean over the seeds with a band from their min to their max,
each seed's returns carried forward between its reports onto a common x grid.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rayrl.errors import RayrlError

X_KEYS = {"steps": ("timesteps_total", "env steps"), "seconds": ("time_total_s", "training seconds")}


class Curve(NamedTuple):
    label: str
    x: np.ndarray
    returns: np.ndarray


def read_trials(run_dirs: list[str | os.PathLike], x: str) -> dict[str, list[Curve]]:
    """Every trial under ``run_dirs`` as a curve of mean return against ``x`` ("steps" or "seconds"), grouped by
    config without its seed, labelled ``algo env`` and the keys where one algorithm's runs on one env differ."""
    key = X_KEYS[x][0]
    trials: list[tuple[dict[str, Any], Curve]] = []
    for run_dir in run_dirs:
        path = Path(run_dir).expanduser()
        if not path.is_dir():
            raise RayrlError(f"run directory does not exist: {run_dir}")
        found = sorted(path.rglob("result.json"))
        if not found:
            raise RayrlError(f"no result.json under {run_dir}; pass a run directory that Tune wrote")
        for result in found:
            rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
            rows = [r for r in rows if not math.isnan(r.get("episode_return_mean", math.nan))]
            if rows:
                config = dict(rows[-1].get("config", {}))
                trials.append((config, Curve(result.parent.name, np.array([r[key] for r in rows], float),
                                             np.array([r["episode_return_mean"] for r in rows], float))))
    if not trials:
        raise RayrlError(f"no reported returns under {', '.join(map(str, run_dirs))} yet")
    by_task: dict[tuple[str, str], list[tuple[dict[str, Any], Curve]]] = defaultdict(list)
    for config, curve in trials:
        by_task[(str(config.get("algo", "?")), str(config.get("env", "?")))].append((config, curve))
    groups: dict[str, list[Curve]] = defaultdict(list)
    for (algo, env), members in by_task.items():  # an algorithm's runs apart by the keys where they differ
        differing = _differing_keys([config for config, _ in members])
        for config, curve in members:
            groups[" ".join([algo, env, *(f"{k}={config.get(k)}" for k in differing)])].append(curve)
    return dict(groups)


def _differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys (other than seed, algo and env, which labels name anyway) whose values differ between trials."""
    keys = sorted({k for config in configs for k in config} - {"seed", "algo", "env", "restore_from"})
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def mean_and_band(curves: list[Curve], points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seeds' mean, min and max on a common grid up to the shortest seed's last x (each seed's return carried
    forward from its last report before a grid point)."""
    end = min(curve.x[-1] for curve in curves)
    start = max(curve.x[0] for curve in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([end])
    values = np.stack([c.returns[np.searchsorted(c.x, grid, side="right") - 1] for c in curves])
    return grid, values.mean(0), values.min(0), values.max(0)


def plot(run_dirs: list[str | os.PathLike], out: str | os.PathLike, *, x: str = "steps") -> Path:
    """Draw the learning curves of ``run_dirs`` into the PNG ``out``; returns its path."""
    return draw(read_trials(run_dirs, x), out, x=x)


def draw(groups: dict[str, list[Curve]], out: str | os.PathLike, *, x: str = "steps") -> Path:
    """One line per group (several curves: their mean with a min-max band) into the PNG ``out``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    for label, curves in groups.items():
        if len(curves) == 1:
            axes.plot(curves[0].x, curves[0].returns, label=label)
            continue
        grid, mean, low, high = mean_and_band(curves)
        line, = axes.plot(grid, mean, label=f"{label} (mean of {len(curves)} seeds)")
        axes.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
    axes.set_xlabel(X_KEYS[x][1])
    axes.set_ylabel("mean return, last 100 episodes")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return out
