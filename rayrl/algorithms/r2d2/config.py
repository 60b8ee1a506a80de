"""R2D2's config: the paper's Atari settings (Kapturowski et al. 2019, sec. 2.3 and table 2) as defaults, on top of
Ape-X's topology (shards, per-actor epsilons, weight pulls every 400 steps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayrl.algorithms.apex.config import ApexConfig
from rayrl.config import check


@dataclass(frozen=True)
class R2D2Config(ApexConfig):
    # Ape-X's: per-actor epsilons 0.4^(1 + 7 i / (N - 1)), weights pulled every 400 env steps, shards, double Q,
    # a dueling head.
    sequence_length: int = 80
    """Steps per replayed sequence (burn-in included)."""
    sequence_period: int = 40
    """Steps between the starts of consecutive sequences of an episode: sequences overlap by length - period."""
    burn_in: int = 40
    """Steps at a sequence's start that only refresh the stored recurrent state (no gradient)."""
    lstm_size: int = 512
    """The LSTM's width."""
    n_step: int = 5
    gamma: float = 0.997
    rescale_eps: float | None = 1e-3
    """eps of the value rescaling h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x applied to targets; None: none."""
    priority_eta: float = 0.9
    """A sequence's priority is eta max_t |delta_t| + (1 - eta) mean_t |delta_t|."""
    priority_exponent: float = 0.9
    importance_exponent: float = 0.6
    buffer_size: int = 100_000
    """Replay capacity in sequences, split over the shards (the paper: 4M observations, period 40)."""
    learning_starts: int = 5_000
    """Sequences stored before the learner starts sampling."""
    batch_size: int = 64
    """Sequences per learner update."""
    rollout_length: int = 40
    """Env steps per worker sample call and env; the sequences completed meanwhile go to replay."""
    samples_per_insert: float | None = 0.5
    """The replay ratio the shards' rate limiters hold: sequences sampled per sequence inserted (within a slack of
    a few batches); None lets actors and learner run free, as Ape-X."""
    optimizer: str = "adam"
    lr: float = 1e-4
    optimizer_eps: float = 1e-3
    target_update_period: int = 2500
    weights_publish_period: int = 4
    """Learner updates per learner call; the weights after each call are published for the workers' pulls."""

    def __post_init__(self):
        super().__post_init__()
        check(self.sequence_length >= 2, "sequence_length", self.sequence_length, "use 2 or more steps")
        check(1 <= self.sequence_period <= self.sequence_length, "sequence_period", self.sequence_period,
              "use 1 to sequence_length steps")
        check(0 <= self.burn_in <= self.sequence_length - 2, "burn_in", self.burn_in,
              "use 0 to sequence_length - 2 steps, so that each sequence has a step to train")
        check(self.lstm_size >= 1, "lstm_size", self.lstm_size, "use 1 or more units")
        check(self.rescale_eps is None or self.rescale_eps >= 0, "rescale_eps", self.rescale_eps,
              "use 0 or more, or None for no value rescaling")
        check(0.0 <= self.priority_eta <= 1.0, "priority_eta", self.priority_eta, "use a weight in [0, 1]")
        check(self.samples_per_insert is None or self.samples_per_insert > 0, "samples_per_insert",
              self.samples_per_insert, "use a positive ratio, or None for none")

    def actor_kwargs(self) -> dict[str, Any]:
        """The sequences' settings and the LSTM's width; on Atari no reward clipping and no life loss (the paper)."""
        from rayrl.envs import AtariOptions

        return dict(lstm_size=self.lstm_size, sequence_length=self.sequence_length,
                    sequence_period=self.sequence_period, atari=AtariOptions(clip_rewards=False, episodic_life=False))

    def q_network(self, observation_space, action_space):
        """R2D2's recurrent Q-network: the encoder, an LSTM over it and the previous action and reward, the head."""
        from rayrl.models.recurrent import RecurrentQNetwork

        return RecurrentQNetwork(observation_space, action_space, self.hidden_sizes, self.dueling, self.lstm_size)

    def loss_fn(self):
        """R2D2's loss: burn-in, then transformed n-step double-Q targets on the sequence's trained steps."""
        import functools

        from rayrl.algorithms.r2d2.loss import r2d2_loss

        return functools.partial(r2d2_loss, burn_in=self.burn_in, n_step=self.n_step, gamma=self.gamma,
                                 priority_eta=self.priority_eta, rescale_eps=self.rescale_eps)


# Classic control (masked CartPole): a small network, one worker of 16 envs, a small replay that starts early, and a
# replay ratio that keeps the learner's pace on a 2-core machine. Short sequences: an episode's memory need there is
# a few steps.
VECTOR_PRESET = dict(
    hidden_sizes=(64,),
    lstm_size=64,
    num_workers=1,
    num_envs_per_worker=16,
    num_replay_shards=1,
    rollout_length=20,
    sequence_length=20,
    sequence_period=10,
    burn_in=5,
    n_step=3,
    gamma=0.99,
    buffer_size=10_000,
    learning_starts=200,
    batch_size=32,
    samples_per_insert=2.0,
    target_update_period=200,
    lr=1e-3,
    epsilon_base=0.1,
    pull_period_steps=64,
)

# Atari: the paper's settings (the dataclass defaults).
ATARI_PRESET: dict = {}
