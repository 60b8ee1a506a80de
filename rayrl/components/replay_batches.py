"""GORILA's batch source: an actor, the replay it writes to, and the target network its learner's loss uses.

Nair et al. 2015, sec. 4: each actor acts epsilon-greedily with a copy of the server's Q-network and stores its
experience in replay; each learner samples that replay and computes the DQN gradient against a target network
that is a copy of the server's parameters, refreshed every N updates. Here one process holds an actor (a
:class:`~rayrl.components.transition_worker.TransitionWorker`) and a learner's network: each call steps the envs
once (``rollout_length`` steps each), stores the n-step transitions, and samples one batch for the
:class:`~rayrl.components.gradient_worker.GradientWorker`'s loss. The replay is either the paper's bundled local
one (a :class:`~rayrl.components.replay_shard.ReplayShard` in this process, its share of the capacity) or global
(shard actors every worker writes to and samples from, as the paper's distributed replay); uniform, as the paper's,
or prioritized (Schaul et al. 2016) as an option, the loss's new priorities going back to the batch's replay.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from rayrl.components.replay_feed import ReplayFeed
from rayrl.components.replay_shard import ReplayShard, surface_errors
from rayrl.components.transition_worker import TransitionWorker
from rayrl.core import Batch, EpisodeStats, PublishedWeights
from rayrl.models.q_network import OnlineAndTarget

SAMPLE_WAIT_SECONDS = 0.05
"""How long a call waits for a global shard's sample: while the shards fill, the actor goes back to acting."""


class ReplayBatches:
    """``sample(weights)``: act, pull, store, and return one replay batch (None while the replay is filling).

    Args:
        batch_size: transitions per batch.
        target_update_period: server versions between refreshes of the target network; the first pull sets it.
        replay_capacity, learning_starts: the local replay's capacity and the transitions it holds before it
            gives batches (bundled topology).
        shards, shard: the global :class:`ReplayShard` actors and the one this worker writes to (global topology;
            batches come from any of them).
        actor_kwargs: :class:`TransitionWorker`'s arguments (env, num_envs, rollout_length, n_step, epsilon, ...).
    """

    def __init__(self, *, batch_size: int, target_update_period: int, seed: int, replay_capacity: int | None = None,
                 learning_starts: int = 1, priority_exponent: float | None = None, importance_exponent: float = 0.4,
                 shards: Sequence[Any] | None = None, shard: int = 0, **actor_kwargs: Any):
        self.actor = TransitionWorker(seed=seed, **actor_kwargs)
        self.model = OnlineAndTarget(self.actor.model)  # the online network is the actor's: one pull serves both
        self.batch_size = batch_size
        self.target_update_period = target_update_period
        self.target_version: int | None = None
        self.prioritized = priority_exponent is not None
        self._sampled: tuple | None = None  # (shard_id, indices, keys) of the last batch, for its new priorities
        if shards is None:
            self.local = ReplayShard(0, replay_capacity, min_size_to_sample=learning_starts,
                                     priority_exponent=priority_exponent, importance_exponent=importance_exponent,
                                     frame_stack=self.actor.frame_stack, seed=seed)
        else:
            self.local = None
            self.shard = shards[shard]
            self.feed = ReplayFeed(shards, batch_size=batch_size, in_flight_per_shard=1)
            self._adds: list = []

    def sample(self, weights: PublishedWeights | None = None) -> tuple[Batch | None, EpisodeStats]:
        # The actor acts on the weights it holds and the replay takes a batch before the learner's pull: weights on
        # their way from the server (pulled with this worker's last gradient) arrive meanwhile.
        transitions, stats = self.actor.sample(None)
        if self.local is not None:
            self.local.add(transitions)
            sample = self.local.sample(self.batch_size)
        else:
            self._adds = surface_errors(self._adds) + [self.shard.add.remote(transitions)]
            sample = self.feed.next(stats.policy_version, deadline=time.monotonic() + SAMPLE_WAIT_SECONDS)
        self.actor.maybe_pull(weights)
        version = self.actor.policy_version
        stats = dataclasses.replace(stats, policy_version=version)
        if self.target_version is None or version // self.target_update_period > (
                self.target_version // self.target_update_period):
            self.model.sync_target()
            self.target_version = version
        if sample is None:
            return None, stats
        shard_id, batch = sample
        self._sampled = (shard_id, batch.pop("indices"), batch.pop("keys"))
        return batch, stats

    def update_priorities(self, priorities) -> None:
        """The last batch's new priorities (|TD error| + eps), to the replay it came from; uniform replay (the
        paper's) takes none."""
        if not self.prioritized:
            return
        shard_id, indices, keys = self._sampled
        if self.local is not None:
            self.local.update_priorities(indices, keys, priorities)
        else:
            self.feed.update_priorities(shard_id, indices, keys, priorities)
