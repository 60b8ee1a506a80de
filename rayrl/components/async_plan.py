"""The execution plan of the parameter-server algorithms (A3C, A2C, GORILA): gradient workers and a sharded server.

    GradientWorker 1..N  -- each gradient, to every shard -------->  ParameterServer: shards 1..S, each applies
      a batch from its source (A3C: t_max                            its block (async: as they come; sync: the
      steps of its envs; GORILA: replay),                            mean of one per worker), drops stale ones
      the loss's gradient on it                                              |
          ^                                                                  |
          +-------- the shards' blocks after that gradient <-----------------+
                    (async: the answer to the worker's own call; sync: one published version per round)

Asynchronous (``sync: false``, A3C and GORILA, as in both papers): each worker pushes its gradients to the shards
and pulls their weights itself (:meth:`GradientWorker.run`, one actor call per gradient and shard, the pull
answered with the gradient); the plan starts the workers' calls, each a fraction of a report long, and reads
the shards' small answers they bring back. No actor waits on another, so gradients arrive out of order and some
were computed from versions the server has moved past (their staleness is reported). Synchronous (``sync: true``,
A2C): a round sends one version to every worker, the server applies the mean of their gradients once, and the
next round starts from the new version. Gradients never pass through this process.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import ray
from torch import nn

from rayrl.algorithms.async_sgd import AsyncSGDConfig, start_server
from rayrl.components.bundles import first_worker_bundle
from rayrl.components.gradient_worker import GradientWorker
from rayrl.components.parameter_server import Applied
from rayrl.components.progress import Progress
from rayrl.components.worker_set import Collected, WorkerSet
from rayrl.core import PublishedWeights


RUN_SECONDS = 0.25
"""How long an asynchronous worker's call computes and pushes gradients before it brings back its episodes and the
shards' answers (at most a report)."""


class AsyncSGDPlan:
    """Gradient workers and a parameter server; a subclass gives the model, the lr annealing and the workers'
    arguments (``_worker_kwargs(index, incarnation)``, with the :class:`GradientWorker`'s ``loss_fn``,
    ``max_grad_norm`` and batch source)."""

    def __init__(self, config: AsyncSGDConfig, model_fn: Callable[[], nn.Module], *, lr_anneal_samples: int = 0):
        self.config = config
        self.server = start_server(config, model_fn, lr_anneal_samples=lr_anneal_samples)
        self.link = self.server.link(seconds=min(RUN_SECONDS, config.report_seconds))
        self.workers = WorkerSet(self._worker_kwargs, config.num_workers, max_workers=config.max_workers,
                                 worker_cls=GradientWorker, method="compute_gradients" if config.sync else "run",
                                 depth=1, num_cpus=config.worker_cpus,
                                 first_bundle=first_worker_bundle(config))
        self.progress = Progress()
        self.updates_in_flight: dict[ray.ObjectRef, list[ray.ObjectRef]] = {}  # A2C: answer ref -> weights refs
        self.round: list[ray.ObjectRef] = []  # A2C: the gradient refs of the round so far
        self.device = "cpu"

    def _worker_kwargs(self, index: int, incarnation: int) -> dict[str, Any]:
        raise NotImplementedError

    def train_step(self) -> dict[str, float]:
        """Drive workers and server for ``report_seconds``, and on until a worker has answered (the first report: as
        soon as one has), so no report is empty; return metrics. A report does not wait for an update: while a
        replay fills, it shows the env steps alone."""
        deadline = time.perf_counter() + (self.config.report_seconds if self.progress.env_steps else 0.0)
        steps_before = self.progress.env_steps
        worker_metrics: list[dict[str, float]] = []
        staleness: list[int] = []
        lrs: list[float] = []
        while time.perf_counter() < deadline or self.progress.env_steps == steps_before:
            self._submit()
            ready, _ = ray.wait(self.workers.pending() + list(self.updates_in_flight), num_returns=1,
                                timeout=max(0.0, deadline - time.perf_counter()) or 0.5)
            for ref in ready:
                if self.workers.owns(ref):
                    self._on_gradients(self.workers.collect(ref), worker_metrics, staleness, lrs)
                else:
                    staleness += self._finish_update(ref, lrs)
            if self.config.sync and self.round and not self.workers.pending():  # every worker of the round is in
                self._apply(*self.round)
                self.round = []
        metrics = self.progress.report(worker_metrics)
        metrics.update(self.workers.metrics(), **self._metrics(), lr=lrs[-1] if lrs else math.nan, server_version=self.server.version,
                       gradients_dropped=self.server.dropped,
                       staleness_mean=float(np.mean(staleness)) if staleness else math.nan,
                       staleness_max=float(max(staleness)) if staleness else math.nan)
        return metrics

    def _submit(self) -> None:
        if not self.config.sync:
            self.workers.submit(self.link)
        elif not self.round and not self.updates_in_flight:  # a round starts once the last one's update is published
            self.workers.submit(self.server.latest())

    def _on_gradients(self, collected: Collected | None, worker_metrics: list[dict[str, float]],
                      staleness: list[int], lrs: list[float]) -> None:
        if collected is None:  # its worker died and was replaced
            return
        self.progress.add_episodes(collected.stats)
        if collected.stats.metrics:  # else no gradient: the worker had no batch yet (its replay is filling)
            worker_metrics.append(collected.stats.metrics)
        if not self.config.sync:  # what the shards answered to the worker's pushes
            for answer in ray.get(collected.rollout):
                self.server.count(answer)
                staleness += self._tally(answer, lrs)
        elif collected.stats.metrics:
            self.round.append(collected.rollout)

    def _apply(self, *gradient_refs: ray.ObjectRef) -> None:
        answer_ref, weights_refs = self.server.apply(*gradient_refs)
        self.updates_in_flight[answer_ref] = weights_refs

    def _finish_update(self, answer_ref: ray.ObjectRef, lrs: list[float]) -> list[int]:
        """Count an update of a round, publish its weights; returns the staleness of the gradients it applied."""
        answer = ray.get(answer_ref)
        self.server.finish(answer, self.updates_in_flight.pop(answer_ref))
        return self._tally(answer, lrs)

    def _tally(self, answer: Applied, lrs: list[float]) -> list[int]:
        """Count an answered update in the progress and note its lr; returns the staleness of the gradients it
        applied."""
        lrs.append(answer.lr)
        applied = [age for age in answer.staleness if age is not None]
        if applied:
            self.progress.updates += 1
            self.progress.env_steps_trained += answer.samples
        return applied

    def _metrics(self) -> dict[str, float]:
        """A subclass's own metrics for the report (a replay's size)."""
        return {}

    def policy_weights(self) -> PublishedWeights:
        return self.server.snapshot()

    def get_state(self) -> dict[str, Any]:
        return {"server": self.server.get_state(), "progress": self.progress.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.server.set_state(state["server"])
        self.progress.set_state(state["progress"])

    def stop(self) -> None:
        self.workers.stop()
        self.server.stop()
