"""Ape-X's config: the paper's Atari settings (Horgan et al. 2018, sec. 4 and appendix) as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms import q_learning
from rayrl.algorithms.q_learning import QLearningConfig
from rayrl.config import check


def actor_epsilons(num_actors: int, *, base: float = 0.4, alpha: float = 7.0) -> list[float]:
    """``eps_i = base^(1 + alpha i / (N - 1))`` for actors i = 0..N-1 (Horgan et al. 2018, sec. 4.1); ``base`` for
    N = 1. A spread from much exploration to almost none, instead of one annealed rate."""
    if num_actors == 1:
        return [base]
    return [base ** (1 + alpha * i / (num_actors - 1)) for i in range(num_actors)]


@dataclass(frozen=True)
class ApexConfig(QLearningConfig):
    # gamma 0.99, learning starts 50K, alpha 0.6 and beta 0.4: the paper's, as QLearningConfig.
    rollout_length: int = 50
    """Env steps per worker sample call and env: the paper's actors push their local buffer every 50 steps."""
    n_step: int = 3
    """Steps per transition (the paper: 3)."""
    double_q: bool = True
    """Double Q-learning targets, as the paper."""
    dueling: bool = True
    """A dueling head, as the paper."""
    buffer_size: int = 2_000_000
    """Replay capacity in transitions, split evenly over the shards."""
    num_replay_shards: int = 4
    """Replay shard actors (no CPU reserved each); each worker keeps to one of them (see plan.shard_of)."""
    batch_size: int = 512
    target_update_period: int = 2500
    epsilon_base: float = 0.4
    """Actor i of N explores with epsilon_base^(1 + epsilon_alpha i / (N - 1)); one actor is one env stream."""
    epsilon_alpha: float = 7.0
    """The exponent's spread in that formula (the paper: 7)."""
    pull_period_steps: int = 400
    """Env steps (per worker) between pulls of the learner's newest weights (the paper: 400)."""
    lr: float = 0.00025 / 4
    """Learning rate (constant)."""
    optimizer_eps: float = 1.5e-7
    """RMSProp's or Adam's epsilon."""
    rmsprop_decay: float = 0.95
    """RMSProp's moving-average decay."""
    # optimizer (rmsprop: the paper's, though centred there), momentum 0 and max_grad_norm 40 as CommonConfig.
    samples_in_flight_per_shard: int = 2
    """Sample requests kept outstanding on each shard, so a batch is ready whenever the learner is."""
    weights_publish_period: int = 10
    """Learner updates per learner call (fewer if the call reaches report_seconds); the weights after each call are
    published for the workers' pulls."""

    def __post_init__(self):
        super().__post_init__()
        check(self.num_replay_shards >= 1, "num_replay_shards", self.num_replay_shards, "use 1 or more")
        check(self.buffer_size >= self.batch_size * self.num_replay_shards, "buffer_size", self.buffer_size,
              "hold at least one batch per shard")
        check(0.0 <= self.epsilon_base <= 1.0, "epsilon_base", self.epsilon_base, "use a rate in [0, 1]")
        check(self.epsilon_alpha >= 0, "epsilon_alpha", self.epsilon_alpha, "use 0 or more")
        check(self.pull_period_steps >= 0, "pull_period_steps", self.pull_period_steps, "use 0 or more steps")
        check(self.samples_in_flight_per_shard >= 1, "samples_in_flight_per_shard",
              self.samples_in_flight_per_shard, "use 1 or more")
        check(self.weights_publish_period >= 1, "weights_publish_period", self.weights_publish_period,
              "use 1 or more updates")


# Classic control: the family's preset (q_learning.VECTOR_PRESET) over 2 shards, with a lower epsilon base so the
# window of training returns is not dominated by the most exploring of the 32 env streams.
VECTOR_PRESET = dict(
    q_learning.VECTOR_PRESET,
    num_replay_shards=2,
    epsilon_base=0.1,
    pull_period_steps=64,
)

# Atari: the paper's settings (the dataclass defaults).
ATARI_PRESET: dict = {}
