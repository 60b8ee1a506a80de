"""IMPALA's config: the paper's Atari settings (Espeholt et al. 2018, Table G.1) as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.config import CommonConfig, check


@dataclass(frozen=True)
class ImpalaConfig(CommonConfig):
    rollout_length: int = 20
    """Unroll length T: steps each rollout carries per env."""
    batch_size: int = 32
    """Trajectories (env columns of length T) per learner batch; whole rollouts are joined to reach it."""
    gamma: float = 0.99
    """Discount."""
    reward_scale: float = 1.0
    """Multiplies rewards in the loss (after the env's clipping): keeps values near 1 for envs with large rewards."""
    baseline_cost: float = 0.5
    """Weight of the value (baseline) loss."""
    entropy_cost: float = 0.01
    """Weight of the entropy bonus."""
    clip_rho_threshold: float = 1.0
    """rho-bar: truncation of the importance weights in the V-trace targets."""
    clip_pg_rho_threshold: float = 1.0
    """Truncation of the importance weights in the policy-gradient advantage."""
    clip_c_threshold: float = 1.0
    """c-bar: truncation of the trace-cutting coefficients."""
    # The optimizer keys (CommonConfig) default to the paper's: RMSProp, lr 6e-4, eps 0.01, decay 0.99, clip 40.
    lr_anneal_timesteps: int = 50_000_000
    """Env steps over which lr decays linearly to 0 (the paper: 200M frames = 50M steps); 0 keeps it constant."""
    max_updates_in_flight: int = 2
    """Learner batches queued at once: one training while the next is already on its way."""

    def __post_init__(self):
        super().__post_init__()
        check(self.rollout_length >= 1, "rollout_length", self.rollout_length, "use 1 or more steps")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "use 1 or more trajectories")
        check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "use a discount in [0, 1]")
        check(self.lr_anneal_timesteps >= 0, "lr_anneal_timesteps", self.lr_anneal_timesteps, "use 0 or more")
        check(self.reward_scale > 0, "reward_scale", self.reward_scale, "use a positive factor")
        check(self.baseline_cost >= 0, "baseline_cost", self.baseline_cost, "use 0 or more")
        check(self.entropy_cost >= 0, "entropy_cost", self.entropy_cost, "use 0 or more")
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
)

# Atari: the paper's settings (the dataclass defaults) with this machine-sized topology.
ATARI_PRESET = dict(num_workers=2, num_envs_per_worker=8)
