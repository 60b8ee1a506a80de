"""The execution plan of the parameter-server algorithms (A3C, A2C, GORILA): gradient workers and a sharded server.

    GradientWorker 1..N  -- gradient refs, each as it is ready -->  ParameterServer: shards 1..S, each applies
      a batch from its source (A3C: t_max                            its block (async: as they come; sync: the
      steps of its envs; GORILA: replay),                            mean of one per worker), drops stale ones
      the loss's gradient on it                                              |
          ^                                                                  |
          +-------- PublishedWeights(version, one ref per shard) <-----------+
                    pulled by each worker before its next batch

Asynchronous (``sync: false``, A3C and GORILA): the plan hands each gradient ref to every shard as soon as its
worker is done, and gives the worker the newest weights for its next batch; no actor waits on another, so gradients
arrive out of order and some were computed from versions the server has moved past (their staleness is reported).
Synchronous (``sync: true``, A2C): a round sends one version to every worker, the server applies the mean of their
gradients once, and the next round starts from the new version. Gradients never pass through this process: it
routes refs and reads small answers.
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
from rayrl.components.progress import Progress
from rayrl.components.worker_set import Collected, WorkerSet


class AsyncSGDPlan:
    """Gradient workers and a parameter server; a subclass gives the model, the lr annealing and the workers'
    arguments (``_worker_kwargs(index, incarnation)``, with the :class:`GradientWorker`'s ``loss_fn``,
    ``max_grad_norm`` and batch source)."""

    def __init__(self, config: AsyncSGDConfig, model_fn: Callable[[], nn.Module], *, lr_anneal_samples: int = 0):
        self.config = config
        self.server = start_server(config, model_fn, lr_anneal_samples=lr_anneal_samples)
        self.workers = WorkerSet(self._worker_kwargs, config.num_workers, max_workers=config.max_workers,
                                 worker_cls=GradientWorker, method="compute_gradients", depth=1,
                                 num_cpus=config.worker_cpus,
                                 first_bundle=first_worker_bundle(config))
        self.progress = Progress()
        self.updates_in_flight: dict[ray.ObjectRef, list[ray.ObjectRef]] = {}  # answer ref -> shards' weights refs
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
                    self._on_gradients(self.workers.collect(ref), worker_metrics)
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
        if self.config.sync:  # a round starts once the last one's update is applied and published
            if not self.round and not self.updates_in_flight:
                self.workers.submit(self.server.latest())
            return
        # Backpressure: at most two updates per worker queued at the server, so staleness and memory stay bounded.
        room = 2 * len(self.workers.actors) - len(self.updates_in_flight)
        if room > 0:
            self.workers.submit(self.server.latest(), limit=room)

    def _on_gradients(self, collected: Collected | None, worker_metrics: list[dict[str, float]]) -> None:
        if collected is None:  # its worker died and was replaced
            return
        self.progress.add_episodes(collected.stats)
        if not collected.stats.metrics:  # no gradient: the worker had no batch yet (its replay is filling)
            return
        worker_metrics.append(collected.stats.metrics)
        if self.config.sync:
            self.round.append(collected.rollout)
        else:
            self._apply(collected.rollout)

    def _apply(self, *gradient_refs: ray.ObjectRef) -> None:
        answer_ref, weights_refs = self.server.apply(*gradient_refs)
        self.updates_in_flight[answer_ref] = weights_refs

    def _finish_update(self, answer_ref: ray.ObjectRef, lrs: list[float]) -> list[int]:
        """Count an answered update and note its lr; returns the staleness of the gradients it applied."""
        answer = ray.get(answer_ref)
        lrs.append(answer.lr)
        self.server.finish(answer, self.updates_in_flight.pop(answer_ref))
        applied = [age for age in answer.staleness if age is not None]
        if applied:
            self.progress.updates += 1
            self.progress.env_steps_trained += answer.samples
        return applied

    def _metrics(self) -> dict[str, float]:
        """A subclass's own metrics for the report (a replay's size)."""
        return {}

    def get_state(self) -> dict[str, Any]:
        return {"server": self.server.get_state(), "progress": self.progress.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.server.set_state(state["server"])
        self.progress.set_state(state["progress"])

    def stop(self) -> None:
        self.workers.stop()
        self.server.stop()
