"""The parameter server of GORILA and A3C: shared parameters that gradients computed elsewhere update as they come.

Nair et al. 2015 (GORILA) and Mnih et al. 2016 (A3C): workers compute gradients on their own copies of the network
and send them to the server, which applies them asynchronously to the shared parameters and their shared optimizer
statistics (A3C's "shared RMSProp"); workers pull fresh parameters now and then. The parameters are split by
blocks over ``num_shards`` actors (:class:`ParameterShard`), each holding its block and that block's optimizer
state, so one process is not the bottleneck (GORILA ran 31 shards). Every shard receives every gradient and
counts a version per applied one; a gradient computed from parameters more than ``max_staleness`` versions old is
dropped (GORILA's rule) and counted.

Two ways in. Asynchronous workers (A3C, GORILA) reach the shards themselves through a :class:`ServerLink`: each
gradient goes to every shard with the version of that shard's block it was computed on, and the shard answers with
its block after it (a pull in the same call). Workers sending at once reach the shards in different orders, so
each shard judges staleness by its own count. Synchronous rounds (A2C) go through :class:`ParameterServer` in the
plan's process, which sends each update to every shard in one order and publishes whole versions.

Each shard reads the whole :class:`~rayrl.core.Gradients` object: on one node that is a zero-copy read of shared
memory, across nodes one copy per node, whichever block a shard holds.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from rayrl.components.bundles import LEARNER_BUNDLE, bundle_options
from rayrl.components.learner import make_optimizer
from rayrl.core import Gradients, PublishedWeights, Weights


def partition(sizes: Sequence[int], num_shards: int) -> list[list[int]]:
    """Parameter indices split into ``num_shards`` blocks of about equal element counts (largest first, each to the
    lightest block); each block lists its indices in order. Needs ``1 <= num_shards <= len(sizes)``."""
    if not 1 <= num_shards <= len(sizes):
        raise ValueError(f"need 1 to {len(sizes)} shards (one parameter tensor at least each), got {num_shards}")
    blocks: list[list[int]] = [[] for _ in range(num_shards)]
    loads = [0] * num_shards
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        blocks[lightest].append(index)
        loads[lightest] += sizes[index]
    return [sorted(block) for block in blocks]


class Applied(NamedTuple):
    """A shard's answer to one :meth:`ParameterShard.apply` call."""

    staleness: list[int | None]
    """Per gradient, the versions applied since the one it was computed from; None where it was dropped."""
    version: int
    """The shard's version after the call."""
    samples: int
    """Samples of the gradients applied."""
    lr: float
    """The learning rate of the step (annealed), or that the next step would take if none was applied."""


class ParameterShard:
    """A block of the parameters (``indices`` into the model's parameter order) and its optimizer state.

    Plain Python: :class:`ParameterServer` makes one actor per shard; tests use it directly.
    """

    def __init__(self, *, params: dict[str, np.ndarray], indices: Sequence[int], publish_period: int,
                 optimizer: str, lr: float, optimizer_eps: float, rmsprop_decay: float = 0.99, momentum: float = 0.0,
                 lr_anneal_samples: int = 0, max_staleness: int | None = None):
        torch.set_num_threads(1)
        self.names = list(params)
        self.indices = list(indices)
        self.params = [nn.Parameter(torch.tensor(value)) for value in params.values()]
        self.optimizer = make_optimizer(self.params, name=optimizer, lr=lr, eps=optimizer_eps,
                                        rmsprop_decay=rmsprop_decay, momentum=momentum)
        self.publish_period = publish_period
        self.base_lr = lr
        self.lr_anneal_samples = lr_anneal_samples
        self.max_staleness = max_staleness
        self.version = 0
        self.samples_applied = 0
        self.dropped = 0

    def apply(self, *gradients: Gradients) -> tuple[Applied, Weights | None]:
        """One optimizer step with the mean of ``gradients`` (one for A3C and GORILA, one per worker for A2C) that
        are fresh enough. Returns what happened and, when the new version is due for publishing (every
        ``publish_period`` versions), this block's weights at exactly that version (else None)."""
        applied = self._step(gradients, [g.version for g in gradients])
        due = any(age is not None for age in applied.staleness) and self.version % self.publish_period == 0
        return applied, self.get_weights() if due else None

    def exchange(self, gradients: Gradients | None, version: int, pull: bool) -> tuple[Applied, Weights | None]:
        """A worker's own call (A3C, GORILA): apply its gradient, if any, computed on this block at ``version``,
        and, with ``pull``, answer with the block's weights after it. Workers that push at once reach the shards
        in different orders, so each shard counts its own versions and the worker stamps each shard's."""
        applied = self._step([] if gradients is None else [gradients], [] if gradients is None else [version])
        return applied, self.get_weights() if pull else None

    def _step(self, gradients: Sequence[Gradients], versions: Sequence[int]) -> Applied:
        staleness: list[int | None] = []
        fresh = []
        lr = self.lr()
        for g, version in zip(gradients, versions, strict=True):
            age = self.version - version
            if self.max_staleness is not None and age > self.max_staleness:
                self.dropped += 1
                staleness.append(None)
            else:
                fresh.append(g)
                staleness.append(age)
        if fresh:
            for param, index in zip(self.params, self.indices):
                grads = [torch.as_tensor(g.grads[index]) for g in fresh]
                param.grad = grads[0].clone() if len(grads) == 1 else torch.stack(grads).mean(0)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
            self.version += 1
            self.samples_applied += sum(g.samples for g in fresh)
        return Applied(staleness, self.version, sum(g.samples for g in fresh), lr)

    def lr(self) -> float:
        """The base lr annealed linearly to 0 over ``lr_anneal_samples`` applied samples (0: constant)."""
        if self.lr_anneal_samples <= 0:
            return self.base_lr
        return self.base_lr * max(0.0, 1.0 - self.samples_applied / self.lr_anneal_samples)

    def get_weights(self) -> Weights:
        return {name: p.detach().numpy().copy() for name, p in zip(self.names, self.params)}

    def get_state(self) -> dict[str, Any]:
        """This block's parameters and optimizer statistics by parameter name, so any sharding can load them."""
        per_param = copy.deepcopy(self.optimizer.state_dict()["state"])  # the optimizer goes on updating its own
        return {
            "params": {name: p.detach().clone() for name, p in zip(self.names, self.params)},
            "optimizer": {name: per_param[i] for i, name in enumerate(self.names) if i in per_param},
            "counters": {"version": self.version, "samples_applied": self.samples_applied, "dropped": self.dropped},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, p in zip(self.names, self.params):
                p.copy_(state["params"][name])
        saved = self.optimizer.state_dict()
        saved["state"] = {i: state["optimizer"][name] for i, name in enumerate(self.names)
                          if name in state["optimizer"]}
        self.optimizer.load_state_dict(saved)
        self.version = int(state["counters"]["version"])
        self.samples_applied = int(state["counters"]["samples_applied"])
        self.dropped = int(state["counters"]["dropped"])


class PulledWeights:
    """The blocks the shards answered a worker's :meth:`ParameterShard.exchange` with, read only when used, as
    :class:`~rayrl.core.PublishedWeights` are: a worker that acts before it pulls (GORILA) waits for them only
    then. ``version`` is shard 0's, ``versions`` every shard's."""

    def __init__(self, answers: list[Any], blocks: list[Any]):
        self._answers, self.ref = answers, blocks

    @functools.cached_property
    def versions(self) -> list[int]:
        import ray

        return [answer.version for answer in ray.get(self._answers)]

    @property
    def version(self) -> int:
        return self.versions[0]

    fetch = PublishedWeights.fetch


@dataclass(frozen=True)
class ServerLink:
    """The shards as a worker sees them when it pushes and pulls itself (A3C, GORILA): no process in between.

    A worker's call (:meth:`~rayrl.components.gradient_worker.GradientWorker.run`) computes and sends gradients
    for ``seconds``, and pulls the weights every ``pull_period`` of them, in the same call as the gradient: a shard
    runs one caller's calls in order, so the weights it answers with hold that worker's gradient.
    """

    shards: list[Any]
    seconds: float
    pull_period: int = 1

    def exchange(self, gradients: Gradients | None, versions: Sequence[int] | None,
                 pull: bool) -> tuple[Any, PulledWeights | None]:
        """Send ``gradients`` (or none) to every shard, each with the version of its block they were computed
        on; returns the ref of shard 0's :class:`Applied` and, with ``pull``, the weights after them."""
        import ray

        # One object in the store that every shard reads; with one shard, inline in the call (no fetch back).
        sent = gradients if gradients is None or len(self.shards) == 1 else ray.put(gradients)
        calls = [shard.exchange.options(num_returns=2).remote(sent, version, pull)
                 for shard, version in zip(self.shards, versions or [0] * len(self.shards), strict=True)]
        answers = [answer for answer, _ in calls]
        return answers[0], PulledWeights(answers, [weights for _, weights in calls]) if pull else None


class ParameterServer:
    """The parameters of ``model_fn()`` (initialised with ``seed``) over ``num_shards`` :class:`ParameterShard` actors.

    Lives in the plan's process and only routes refs: :meth:`apply` sends one update's gradient refs to every shard
    (in one order, so every shard counts the same versions); :meth:`finish` reads shard 0's small answer and, when
    the update made a version due for publishing, makes the shards' weights of that version :meth:`latest`.
    Asynchronous workers go around it through its :meth:`link`; the plan counts the answers they bring
    (:meth:`count`).
    """

    def __init__(self, model_fn: Callable[[], nn.Module], *, num_shards: int, publish_period: int, seed: int,
                 num_cpus: float = 1.0, **shard_kwargs: Any):
        import ray

        torch.manual_seed(seed)
        named = [(name, p.detach().numpy().copy()) for name, p in model_fn().named_parameters()]
        self.blocks = partition([value.size for _, value in named], num_shards)
        remote_shard = ray.remote(num_cpus=num_cpus)(ParameterShard)
        self.shards = [remote_shard.options(**bundle_options(LEARNER_BUNDLE + s)).remote(
            params=dict(named[i] for i in block), indices=block, publish_period=publish_period, **shard_kwargs)
            for s, block in enumerate(self.blocks)]
        self.publish_period = publish_period
        self.version = 0
        self.dropped = 0
        self._latest = self.snapshot()

    def apply(self, *gradient_refs) -> tuple[Any, list[Any]]:
        """Send one update (one gradient ref, or one per worker to average) to every shard. Returns the ref of shard
        0's :class:`Applied` (every shard decides alike), to wait on, and the refs of the shards' weights."""
        calls = [shard.apply.options(num_returns=2).remote(*gradient_refs) for shard in self.shards]
        return calls[0][0], [weights for _, weights in calls]

    def link(self, seconds: float) -> ServerLink:
        """The shards for workers that push and pull themselves, ``seconds`` a call, pulling every
        ``publish_period`` gradients."""
        return ServerLink(self.shards, seconds, self.publish_period)

    def count(self, applied: Applied) -> None:
        """Count an update answered by shard 0 (of :meth:`apply`, or a worker's push): its drops and version."""
        self.dropped += sum(age is None for age in applied.staleness)
        self.version = max(self.version, applied.version)

    def finish(self, applied: Applied, weights_refs: list[Any]) -> None:
        """Count a finished update (``applied`` read from :meth:`apply`'s first ref); publish the weights if due.

        Answers may be read in any order (``ray.wait`` returns whichever is ready): an update whose gradients were
        all dropped leaves the version where an earlier update put it and has no weights, so only an update that
        applied something publishes, and only if its version is newer than the published one."""
        self.count(applied)
        stepped = any(age is not None for age in applied.staleness)
        if stepped and applied.version % self.publish_period == 0 and applied.version > self._latest.version:
            self._latest = PublishedWeights(applied.version, weights_refs)

    def latest(self) -> PublishedWeights:
        """The newest published weights: one ref per shard's block."""
        return self._latest

    def snapshot(self) -> PublishedWeights:
        """The shards' weights now, published or not (asynchronous workers pull their own; nothing is published)."""
        return PublishedWeights(self.version, [shard.get_weights.remote() for shard in self.shards])

    def get_state(self) -> dict[str, Any]:
        """The whole model's parameters and optimizer statistics by name, and the counters (the same on every
        shard), so a checkpoint loads into any number of shards."""
        import ray

        states = ray.get([shard.get_state.remote() for shard in self.shards])
        return {"params": {k: v for s in states for k, v in s["params"].items()},
                "optimizer": {k: v for s in states for k, v in s["optimizer"].items()},
                "counters": states[0]["counters"]}

    def set_state(self, state: dict[str, Any]) -> None:
        import ray

        ray.get([shard.set_state.remote(state) for shard in self.shards])
        self.version = int(state["counters"]["version"])
        self.dropped = int(state["counters"]["dropped"])
        self._latest = self.snapshot()

    def stop(self) -> None:
        import ray

        for shard in self.shards:
            ray.kill(shard)
