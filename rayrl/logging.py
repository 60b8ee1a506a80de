"""Console progress: one readable line per reported iteration (TensorBoard scalars come from Tune's logger)."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray import tune


def progress_line(result: dict[str, Any], elapsed: float) -> str:
    """``  12.3s  steps 123,456  14,321 steps/s  return 123.4 (100 ep)  lag 1.2  updates 345``; a parameter
    server's run adds ``67 updates/s  staleness 1.4 (max 6)  dropped 12``; a run that evaluates during training,
    ``eval 210.5`` once an evaluation has finished."""
    ret = result.get("episode_return_mean", math.nan)
    window = min(int(result.get("episodes_total", 0)), 100)
    parts = [
        f"{elapsed:7.1f}s",
        f"steps {int(result.get('timesteps_total', 0)):>11,}",
        f"{result.get('env_steps_per_s', 0):>8,.0f} steps/s",
        f"return {ret:8.2f} ({window} ep)" if not math.isnan(ret) else "return      n/a",
    ]
    lag = result.get("policy_lag_mean", math.nan)
    if not math.isnan(lag):
        parts.append(f"lag {lag:4.1f}")
    parts.append(f"updates {int(result.get('learner_updates', 0)):,}")
    if "gradients_dropped" in result:  # applied updates, their gradients' staleness in versions, the drops
        parts.append(f"{result.get('updates_per_s', 0):,.0f} updates/s")
        staleness, worst = result.get("staleness_mean", math.nan), result.get("staleness_max", math.nan)
        if not math.isnan(staleness):
            parts.append(f"staleness {staleness:.1f} (max {worst:.0f})")
        parts.append(f"dropped {int(result['gradients_dropped']):,}")
    evaluated = result.get("eval/return_mean", math.nan)
    if not math.isnan(evaluated):
        parts.append(f"eval {evaluated:.2f}")
    return "  ".join(parts)


class ProgressPrinter(tune.Callback):
    """Prints :func:`progress_line` for every result to ``out`` (default: ``sys.stdout`` when printing; not the
    stream at construction, which Tune pickles with the run's state); time counts from ``start``."""

    def __init__(self, start: float, out=None):
        self.start = start
        self.out = out

    def on_trial_result(self, iteration, trials, trial, result, **info):
        prefix = f"[{trial.trial_id}] " if len(trials) > 1 else ""
        print(prefix + progress_line(result, time.time() - self.start), file=self.out or sys.stdout, flush=True)
