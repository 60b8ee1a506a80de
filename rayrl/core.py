"""The contracts of rayrl: what each kind of actor does, and the data that flows between them.

An algorithm is a small typed config, a pure loss and a *plan* that wires reusable components into Ray actors.
The components below are plain Python classes; a plan turns them into actors with ``ray.remote(Cls)`` and moves
data between them with ``ray.wait`` loops, so that no actor waits on the slowest one.

Data
----
Samples are dicts of numpy arrays, time-major ``[T, B, ...]`` (T steps of B vectorised envs), so that Ray's object
store moves them without copies and a learner can concatenate rollouts along B. A rollout holds::

    obs         [T + 1, B, *obs_shape]  the observation before each step; obs[T] is the bootstrap observation
    action      [T, B, *action_shape]   the actions taken (continuous actions before clipping to the bounds)
    reward      [T, B]  float32         rewards after the env's training transforms (e.g. Atari clipping)
    terminated  [T, B]  bool            the episode ended at this step (no bootstrapping past it)
    truncated   [T, B]  bool            the episode was cut by a time limit at this step
    behaviour   [T, B, P] float32       the behaviour policy's distribution parameters mu (logits, or mean and
                                        log-std), so an off-policy learner can compute pi / mu
    final_obs   [K, *obs_shape]         the last observation of each of the K episodes cut by a time limit
                                        (truncated, not terminated) within the rollout: the state whose value the
                                        learner bootstraps from there, since obs[t + 1] already starts the next
                                        episode (Pardo et al. 2018, "Time Limits in Reinforcement Learning")
    final_at    [K, 2]  int64           the (t, b) of each final observation's step

A recurrent actor-critic's rollout (``use_lstm``) also carries what the learner needs to re-run its core over the T
steps and the bootstrap step exactly as the worker ran it::

    first       [T + 1, B]  bool        obs[t] starts an episode: the core's state is reset to zeros before step t
    prev_action [T + 1, B, *action_shape], prev_reward [T + 1, B] float32
                                        the core's inputs with obs[t]: the action before it and its reward (0 where
                                        obs[t] starts an episode), for obs[T] too
    state_h     [B, H]  float32         the core's state before step 0 (zeros where obs[0] starts an episode), and
    state_c     [B, H]  float32         its cell state: the later states follow from re-running the core

and is stamped with the ``policy_version`` of the weights that produced it. Rollouts are joined along B with
``rayrl.components.rollout_worker.join_rollouts``, which also shifts ``final_at``'s env indices (and joins a
recurrent rollout's ``[B, H]`` states along their first axis). Finished episodes are reported
beside the rollout as :class:`EpisodeStats` (whole-game, unclipped returns), so a plan can log them without
fetching the rollout itself.

The env loop
------------
Every worker runs one env loop (:class:`~rayrl.components.env_worker.EnvWorker`): B environments stepped in one
process and a :class:`PolicyCore` that picks their actions, as Acme's actor cores do: actor-critic sampling (whose
extras are the behaviour parameters), epsilon-greedy over a Q-network, or a recurrent core whose state it carries
across steps and resets where an episode starts. For each ``sample`` call the worker first checks whether newer
weights were published and its pull period has elapsed; if so it fetches them (one object-store read of a single
published ref). Then, T times: one batched forward pass of the core over the B current inputs (torch limited to one
thread), step all B envs (finished envs reset in the same step), record (and keep the final observation of any
episode a time limit cut). A worker is a core plus a *writer* that turns the recorded steps into its output: the
rollout above, n-step transitions, or replay sequences. One vocabulary names the fields everywhere: ``obs``,
``action``, ``reward``, ``terminated``, ``truncated``, ``first`` (an observation that starts an episode),
``prev_action`` / ``prev_reward`` (a recurrent core's extra inputs), ``state_h`` / ``state_c`` (its LSTM state),
``mask`` (a real step, not padding); ``importance_weight`` is prioritized replay's correction, and "weights" means
a model's weights only.

Gradients
---------
In the parameter-server family (A3C, A2C, GORILA) a worker computes the loss's gradients on its own copy of the
network and sends them as :class:`Gradients` (numpy, one array per parameter, stamped with the weights version they
came from); the server's shards apply them as they come and drop those more than ``max_staleness`` versions old.
Asynchronous workers send them to the shards themselves and take the shards' weights back in the same calls, so no
process stands between a worker and the parameters; synchronous rounds (A2C) go through the plan.

Weights
-------
The learner's weights are published once per version as :class:`PublishedWeights`: one ``ray.put`` of a dict of
numpy arrays, shared by every worker. Workers pull it when their own period elapses; nothing is pushed per worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

Batch = dict[str, np.ndarray]
"""A dict of numpy arrays; time-major ``[T, B, ...]`` for rollouts and Atari frame chunks, ``[N, ...]`` for
transitions."""

Weights = dict[str, np.ndarray]
"""A model's state dict as numpy arrays (CPU), ready for the object store."""


@dataclass(frozen=True)
class PublishedWeights:
    """A version of the learner's weights in the object store.

    ``ref`` is a list holding the ``ObjectRef`` (a list, so Ray does not resolve it when this is passed as an
    argument: the receiver fetches it only if it needs it), or the weights themselves outside Ray; a sharded
    parameter server publishes one ref per shard, each holding its block of the weights.
    """

    version: int
    ref: list[Any]

    def fetch(self) -> Weights:
        """The weights, read from the object store if they live there (all blocks, merged)."""
        if len(self.ref) == 1 and isinstance(self.ref[0], dict):
            return self.ref[0]
        import ray

        blocks = [item if isinstance(item, dict) else None for item in self.ref]
        if any(block is None for block in blocks):
            blocks = ray.get(list(self.ref))
        return blocks[0] if len(blocks) == 1 else {k: v for block in blocks for k, v in block.items()}


@dataclass(frozen=True)
class Gradients:
    """A loss's gradients, computed away from the parameters they will update (A3C, GORILA).

    ``grads`` holds one numpy array per parameter, in the model's parameter order; ``version`` is the weights
    version they were computed from, by which a parameter server tells how stale they are; ``samples`` counts the
    env steps (or transitions) they were computed on.
    """

    grads: list[np.ndarray]
    version: int
    samples: int


@dataclass
class EpisodeStats:
    """Episodes finished during one sample call: real (unclipped, whole-game) returns and lengths; a gradient
    worker adds the scalar ``metrics`` of the loss it computed its gradients from."""

    returns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    env_steps: int = 0
    policy_version: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


class ParameterSource(Protocol):
    """Anything that hands out the newest published weights (the parameter server of A3C and GORILA)."""

    def latest(self) -> PublishedWeights | None: ...


class PolicyCore(Protocol):
    """Picks the actions of a worker's B envs (see "The env loop"); ``model`` holds the weights the worker pulls."""

    model: Any

    def initial_state(self, num_envs: int) -> dict[str, np.ndarray]:
        """The state an episode starts from, one row per env; ``{}`` for a feed-forward core."""
        ...

    def select_action(self, inputs: Batch, state: dict[str, np.ndarray],
                      env_steps: int) -> tuple[np.ndarray, Batch, dict[str, np.ndarray]]:
        """``(actions [B, ...], extras [B, ...] recorded beside the step, next state)`` for ``inputs``: ``obs``, and
        for a recurrent core ``prev_action`` and ``prev_reward``; ``env_steps`` is the worker's step count."""
        ...


class RolloutWorker(Protocol):
    """Steps vectorised envs with the newest policy it has pulled; returns time-major samples."""

    def sample(self, weights: PublishedWeights | None) -> tuple[Batch, EpisodeStats]:
        """Pull ``weights`` if newer and due, run one unroll, return (rollout, finished episodes)."""
        ...


class BatchSource(Protocol):
    """Where a gradient worker's batches come from (A3C: a rollout worker; GORILA: an actor and its replay).

    ``model`` is the network the loss is taken on, holding the pulled weights; its parameters that take gradients
    are the parameter server's, in the server's order. A source whose loss gives priorities (a replay) also has
    ``update_priorities(priorities)``, which takes the last batch's new ones."""

    model: Any

    def sample(self, weights: PublishedWeights | None) -> tuple[Batch | None, EpisodeStats]:
        """Pull ``weights`` if newer and due, make one batch (None if there is none yet, say while replay fills);
        the stats' ``policy_version`` is the version ``model`` holds."""
        ...


class GradientWorker(Protocol):
    """Computes gradients away from the parameters they update: pulls ``weights`` if newer and due, computes the
    loss's clipped gradients on a batch of its :class:`BatchSource` (A3C: a fresh rollout of its envs; GORILA: a
    replay sample), stamps them with the version of the weights they were computed from. With no batch yet, the
    gradients are None and the stats' ``metrics`` empty, so a plan tells without fetching them."""

    def compute_gradients(self, weights: PublishedWeights | None) -> tuple[Gradients | None, EpisodeStats]: ...

    def run(self, link: Any) -> tuple[list[Any], EpisodeStats]:
        """Asynchronous: compute gradients and send them to the server's shards for a while (``link``, the shards
        as a worker reaches them), pulling their weights with the gradients; returns the shards' answers and the
        call's episodes."""
        ...


class ReplayBuffer(Protocol):
    """Stores samples and hands out batches; prioritized buffers take new priorities back."""

    def add(self, batch: Batch) -> None: ...

    def sample(self, batch_size: int) -> Batch | None: ...

    def update_priorities(self, indices: np.ndarray, keys: np.ndarray, priorities: np.ndarray) -> None: ...


class Learner(Protocol):
    """Owns the model and optimizer (on the GPU when torch sees one) and applies an algorithm's loss."""

    def update(self, *batches: Batch) -> dict[str, float]:
        """One gradient step on the batches joined along B; returns scalar metrics. The same as
        ``apply_gradients(compute_gradients(*batches)[0])`` in one process."""
        ...

    def compute_gradients(self, *batches: Batch) -> tuple[Gradients, dict[str, float]]:
        """The loss's clipped gradients on the joined batches, stamped with the current version, and its metrics."""
        ...

    def apply_gradients(self, gradients: Gradients) -> dict[str, float]:
        """One optimizer step with gradients computed elsewhere."""
        ...

    def get_weights(self) -> Weights: ...

    def get_state(self) -> dict[str, Any]:
        """Everything a checkpoint needs to resume: weights, optimizer state, version, counters."""
        ...

    def set_state(self, state: dict[str, Any]) -> None: ...


class Plan(Protocol):
    """An algorithm's topology: builds its actors, then drives them one reporting period at a time."""

    def train_step(self) -> dict[str, float]:
        """Run the actors for one reporting period; return metrics (env steps, returns, policy lag, ...)."""
        ...

    def policy_weights(self) -> PublishedWeights:
        """The newest weights of the network the agent acts with (the learner's published weights, the online
        Q-network's, or the parameter server's shards'), for evaluation away from the workers; never waits."""
        ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...

    def stop(self) -> None: ...
