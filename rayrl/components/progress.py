"""Counters and windows a plan keeps between reports: env steps, finished episodes, rates."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Sequence

import numpy as np

from rayrl.core import EpisodeStats


class Progress:
    """Totals since the run began (restored from checkpoints) and the last 100 finished episodes.

    The reported return is the mean over the last 100 finished training episodes, so that a lucky handful
    cannot satisfy a stop criterion.
    """

    WINDOW = 100

    def __init__(self):
        self.env_steps = 0
        self.env_steps_trained = 0
        self.updates = 0
        self.episodes = 0
        self.returns: deque[float] = deque(maxlen=self.WINDOW)
        self.lengths: deque[int] = deque(maxlen=self.WINDOW)
        self._mark = self._snapshot()

    def add_episodes(self, stats: EpisodeStats) -> None:
        self.env_steps += stats.env_steps
        self.episodes += len(stats.returns)
        self.returns.extend(float(r) for r in stats.returns)
        self.lengths.extend(int(n) for n in stats.lengths)

    def _snapshot(self) -> tuple[float, int, int, int]:
        return time.perf_counter(), self.env_steps, self.env_steps_trained, self.updates

    def report(self, learner_metrics: Sequence[dict[str, float]] = (),
               lags: Sequence[int] | None = None) -> dict[str, float]:
        """Totals, the window's means and the rates since the previous report, the mean of each learner metric over
        the updates since then (none if no update finished), and the policy lag of the batches since then."""
        now, steps, trained, updates = self._snapshot()
        then, steps0, trained0, updates0 = self._mark
        self._mark = (now, steps, trained, updates)
        dt = max(now - then, 1e-9)
        keys = learner_metrics[0].keys() if learner_metrics else ()
        learner = {key: float(np.mean([m[key] for m in learner_metrics])) for key in keys}
        if lags is not None:
            learner.update(policy_lag_mean=float(np.mean(lags)) if lags else math.nan,
                           policy_lag_max=float(max(lags)) if lags else math.nan)
        return learner | {
            "timesteps_total": self.env_steps,
            "env_steps_trained": self.env_steps_trained,
            "learner_updates": self.updates,
            "episodes_total": self.episodes,
            "episode_return_mean": float(np.mean(self.returns)) if self.returns else math.nan,
            "episode_len_mean": float(np.mean(self.lengths)) if self.lengths else math.nan,
            "env_steps_per_s": (steps - steps0) / dt,
            "trained_steps_per_s": (trained - trained0) / dt,
            "updates_per_s": (updates - updates0) / dt,
        }

    def get_state(self) -> dict[str, Any]:
        return {
            "env_steps": self.env_steps, "env_steps_trained": self.env_steps_trained, "updates": self.updates,
            "episodes": self.episodes, "returns": list(self.returns), "lengths": list(self.lengths),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.env_steps = int(state["env_steps"])
        self.env_steps_trained = int(state["env_steps_trained"])
        self.updates = int(state["updates"])
        self.episodes = int(state["episodes"])
        self.returns.extend(float(r) for r in state["returns"])
        self.lengths.extend(int(n) for n in state["lengths"])
        self._mark = self._snapshot()
