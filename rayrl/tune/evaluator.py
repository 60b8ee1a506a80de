"""Evaluation during training: the newest policy's greedy, whole episodes on an actor of its own, every
``evaluation_period_seconds``, reported beside the training metrics as ``eval/...``.

    trial process (RayrlTrainable.step)                Evaluator actor (its own bundle, after the workers')
      each report: is the evaluation done? ------------>  set_weights(plan.policy_weights()), then
      if none runs and its period is up, start one        evaluation_episodes whole episodes (no training
      with the plan's newest weights (one ref)            transforms, the same reset seeds each time)

The trial never waits on it: a report carries the last finished evaluation (NaN before the first, which TensorBoard
skips and a stop criterion does not meet), so sampling and learning go on at their own pace.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import ray

from rayrl.components.bundles import bundle_options, evaluator_bundle
from rayrl.core import Plan, PublishedWeights

EVAL_SEED_OFFSET = 1_000_000
"""Evaluation episodes reset with ``seed + EVAL_SEED_OFFSET + i``: seeds no training env is given."""

logger = logging.getLogger(__name__)


class Evaluator:
    """Plays a policy of ``algo`` with ``config`` (built once) for whichever weights it is handed."""

    def __init__(self, algo: str, config: Any):
        import torch

        from rayrl.policy import make_policy

        torch.set_num_threads(1)  # one env at a time: threads would only take CPU from the workers
        self.config = config
        self.policy = make_policy(algo, config, seed=config.seed)

    def evaluate(self, weights: PublishedWeights) -> dict[str, float]:
        from rayrl.evaluation import run_episodes

        self.policy.set_weights(weights.fetch())
        returns, lengths = run_episodes(self.policy, env=self.config.env, env_kwargs=self.config.env_kwargs,
                                        episodes=self.config.evaluation_episodes,
                                        seed=self.config.seed + EVAL_SEED_OFFSET, stochastic=False)
        return {"eval/return_mean": float(np.mean(returns)), "eval/return_std": float(np.std(returns)),
                "eval/length_mean": float(np.mean(lengths)), "eval/policy_version": float(weights.version)}


NO_EVALUATION = {"eval/return_mean": math.nan, "eval/return_std": math.nan, "eval/length_mean": math.nan,
                 "eval/policy_version": math.nan}
"""What a report carries before the first evaluation has finished."""


class PeriodicEvaluation:
    """Drives one :class:`Evaluator` actor from the trial process: :meth:`poll` once per report."""

    def __init__(self, algo: str, config: Any):
        self.algo, self.config = algo, config
        self.actor = self._start_actor()
        self.running: ray.ObjectRef | None = None
        self.next_start = time.monotonic() + config.evaluation_period_seconds  # first, weights that learned a while
        self.last = dict(NO_EVALUATION)

    def _start_actor(self):
        remote = ray.remote(num_cpus=self.config.worker_cpus)(Evaluator)
        return remote.options(**bundle_options(evaluator_bundle(self.config))).remote(self.algo, self.config)

    def poll(self, plan: Plan) -> dict[str, float]:
        """Take a finished evaluation's results; start the next one if none runs and its period is up; the last
        finished evaluation's metrics. Never waits."""
        if self.running is not None and ray.wait([self.running], timeout=0)[0]:
            try:
                self.last = ray.get(self.running)
            except ray.exceptions.RayActorError as e:  # a crashed evaluator does not end the run: a new one
                logger.warning("the evaluator died (%s); starting a new one", e)
                self.actor = self._start_actor()
            self.running = None
        if self.running is None and time.monotonic() >= self.next_start:
            self.next_start = time.monotonic() + self.config.evaluation_period_seconds
            self.running = self.actor.evaluate.remote(plan.policy_weights())
        return dict(self.last)

    def stop(self) -> None:
        ray.kill(self.actor)
