"""IMPALA's config: the paper's Atari settings (Espeholt et al. 2018, Table G.1) as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms.actor_critic import ActorCriticConfig
from rayrl.config import check


@dataclass(frozen=True)
class ImpalaConfig(ActorCriticConfig):
    """The actor-critic fields (rollout_length 20, gamma 0.99, baseline and entropy costs, lr annealed to 0 over 50M
    steps) and the optimizer keys (RMSProp, lr 6e-4, eps 0.01, decay 0.99, clip 40) default to the paper's."""

    batch_size: int = 32
    """Trajectories (env columns of length T) per learner batch; whole rollouts are joined to reach it."""
    clip_rho_threshold: float = 1.0
    """rho-bar: truncation of the importance weights in the V-trace targets."""
    clip_pg_rho_threshold: float = 1.0
    """Truncation of the importance weights in the policy-gradient advantage."""
    clip_c_threshold: float = 1.0
    """c-bar: truncation of the trace-cutting coefficients."""
    max_updates_in_flight: int = 2
    """Learner batches queued at once: one training while the next is already on its way."""

    def __post_init__(self):
        super().__post_init__()
        check(self.batch_size >= 1, "batch_size", self.batch_size, "use 1 or more trajectories")
        check(self.max_updates_in_flight >= 1, "max_updates_in_flight", self.max_updates_in_flight, "use 1 or more")


# Classic control and other vector-observation envs: small networks learn faster with Adam and bigger batches.
VECTOR_PRESET = dict(
    optimizer="adam",
    lr=1e-3,
    optimizer_eps=1e-8,
    lr_anneal_timesteps=0,
    hidden_sizes=(64, 64),
    num_envs_per_worker=16,
    num_workers=1,
    rollout_length=20,
    batch_size=16,
    entropy_cost=0.01,
    # Values near 10 rather than 100 on CartPole: the learner reaches a mean return of 450 in about half the updates
    # (about 550 rather than 1100), and with use_lstm, where the value loss shares the LSTM with the policy, 150 in
    # about 200 rather than 2100-2700.
    reward_scale=0.1,
    lstm_size=64,  # with use_lstm: 32 and 64 learn CartPole alike, 256 takes about 3 times the updates
)

# Atari: the paper's settings (the dataclass defaults) with this machine-sized topology.
ATARI_PRESET = dict(num_workers=2, num_envs_per_worker=8)
