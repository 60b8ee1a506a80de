"""A set of worker actors kept busy with requests (rollouts, transitions, gradients); a worker that dies is replaced,
not fatal.

Elastic: with ``max_workers`` above ``num_workers``, :meth:`WorkerSet.grow` adds workers while the cluster has
free CPUs (say, the autoscaler added a node: a run asks it for room for all ``max_workers``,
:func:`rayrl.tune.placement.request_room_to_grow`), placed outside the trial's placement group; when such an extra
worker dies (its node went away) it is dropped rather than replaced, so the set shrinks back towards
``num_workers``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from typing import Any, Callable, NamedTuple

import ray
from ray.exceptions import RayActorError, RayTaskError

from rayrl.components.bundles import bundle_options
from rayrl.components.rollout_worker import RolloutWorker
from rayrl.core import EpisodeStats, PublishedWeights
from rayrl.errors import RayrlError

log = logging.getLogger(__name__)


class Collected(NamedTuple):
    """A finished sample request."""

    worker: int
    """The index of the worker that answered (a replacement keeps the index of the worker it replaced)."""
    rollout: ray.ObjectRef
    """What its method returned first (a rollout, transitions or gradients), left in the object store."""
    stats: EpisodeStats


class WorkerSet:
    """``num_workers`` (up to ``max_workers``) actors of ``worker_cls``, each with up to ``depth`` calls in flight.

    ``worker_kwargs(index, incarnation)`` gives the constructor arguments of worker ``index``; ``incarnation``
    counts its replacements so a new actor gets fresh seeds. Each call of ``method(weights)`` (``sample`` for
    rollout and transition workers, ``compute_gradients`` for gradient workers) returns two objects: the data
    (left in the object store for the learner or server) and its small :class:`EpisodeStats`, which the plan reads;
    :meth:`collect` hands both over with the worker's index, so a plan can send each worker's data to the same place.
    In a trial, worker i of the first ``num_workers`` (and its replacements) is pinned to bundle ``first_bundle + i``
    of the trial's placement group (:mod:`rayrl.components.bundles`).
    """

    GROWTH_CHECK_SECONDS = 2.0

    def __init__(
        self,
        worker_kwargs: Callable[[int, int], dict[str, Any]],
        num_workers: int,
        *,
        max_workers: int = 0,
        worker_cls: type = RolloutWorker,
        method: str = "sample",
        depth: int = 2,
        num_cpus: float = 1,
        first_bundle: int | None = None,
    ):
        self._remote_cls = ray.remote(num_cpus=num_cpus)(worker_cls)
        self._worker_kwargs = worker_kwargs
        self.method = method
        self.num_cpus = num_cpus
        self.depth = depth
        self.first_bundle = first_bundle
        self.min_workers = num_workers
        self.max_workers = max(max_workers, num_workers)
        self.incarnations: Counter[int] = Counter()
        self._next_index = itertools.count()
        self.actors: dict[int, Any] = {}
        for _ in range(num_workers):
            self._add()
        self._in_flight: dict[ray.ObjectRef, tuple[int, int, ray.ObjectRef]] = {}
        self._per_worker: Counter[int] = Counter()
        self.restarts = 0
        self.max_restarts = max(10, 3 * num_workers)
        self._next_growth_check = 0.0

    def _start(self, index: int, **options):
        if self.first_bundle is not None and index < self.min_workers and not options:  # its own bundle
            options = bundle_options(self.first_bundle + index)
        kwargs = self._worker_kwargs(index, self.incarnations[index])
        return self._remote_cls.options(**options).remote(**kwargs)

    def _add(self, **options) -> None:
        index = next(self._next_index)
        self.actors[index] = self._start(index, **options)

    def grow(self) -> int:
        """Elastic growth: add workers while the cluster has free CPUs, up to ``max_workers``; returns how many."""
        if len(self.actors) >= self.max_workers:
            return 0
        free = ray.available_resources().get("CPU", 0.0)
        added = 0
        while len(self.actors) < self.max_workers and free >= self.num_cpus:
            # Outside the trial's placement group: these CPUs came after the trial reserved its own.
            self._add(scheduling_strategy="DEFAULT")
            free -= self.num_cpus
            added += 1
        if added:
            log.info("elastic: %d workers now (+%d)", len(self.actors), added)
        return added

    def submit(self, weights: PublishedWeights | None, *, limit: int | None = None) -> None:
        """Top every worker up to ``depth`` requests in flight (at most ``limit`` new requests in all).

        Every few seconds it also looks for free CPUs to :meth:`grow` into, so every plan is elastic for free.
        """
        if self.max_workers > len(self.actors) and time.monotonic() >= self._next_growth_check:
            self._next_growth_check = time.monotonic() + self.GROWTH_CHECK_SECONDS
            self.grow()
        budget = float("inf") if limit is None else limit
        for i, actor in self.actors.items():
            while self._per_worker[i] < self.depth and budget > 0:
                rollout_ref, stats_ref = getattr(actor, self.method).options(num_returns=2).remote(weights)
                self._in_flight[stats_ref] = (i, self.incarnations[i], rollout_ref)
                self._per_worker[i] += 1
                budget -= 1

    def pending(self) -> list[ray.ObjectRef]:
        """The stats refs to ``ray.wait`` on."""
        return list(self._in_flight)

    def owns(self, ref: ray.ObjectRef) -> bool:
        return ref in self._in_flight

    def collect(self, ref: ray.ObjectRef) -> Collected | None:
        """The worker, rollout ref and stats of a finished request, or None if its worker died (then replaced or
        dropped)."""
        index, incarnation, rollout_ref = self._in_flight.pop(ref)
        if index not in self.actors or incarnation != self.incarnations[index]:
            return None  # a request to an actor that was already replaced or dropped
        self._per_worker[index] -= 1
        try:
            return Collected(index, rollout_ref, ray.get(ref))
        except (RayActorError, RayTaskError) as error:
            self._on_failure(index, error)
            return None

    def _on_failure(self, index: int, error: Exception) -> None:
        if len(self.actors) > self.min_workers:
            log.warning("worker %d failed (%s); elastic: dropping it", index, type(error).__name__)
            ray.kill(self.actors.pop(index), no_restart=True)
            self._per_worker.pop(index, None)
            return
        log.warning("worker %d failed (%s); starting a replacement", index, type(error).__name__)
        if self.restarts >= self.max_restarts:
            cause = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise RayrlError(f"workers failed {self.restarts + 1} times; the last error: {cause}") from None
        ray.kill(self.actors[index], no_restart=True)
        self.incarnations[index] += 1
        self._per_worker[index] = 0
        self.actors[index] = self._start(index)
        self.restarts += 1

    def metrics(self) -> dict[str, int]:
        return {"num_workers": len(self.actors), "worker_restarts": self.restarts}

    def stop(self) -> None:
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)
