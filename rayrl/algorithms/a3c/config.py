"""A3C's config: the paper's Atari settings (Mnih et al. 2016, section 5 and supplementary 8) as defaults; A2C is
the same config with ``sync: true``."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms.actor_critic import ActorCriticConfig
from rayrl.algorithms.async_sgd import AsyncSGDConfig


@dataclass(frozen=True)
class A3CConfig(AsyncSGDConfig, ActorCriticConfig):
    """Actor-learners on a parameter server (AsyncSGDConfig first, so that its defaults for CommonConfig's fields win
    over the inherited ones). gamma 0.99, entropy cost 0.01, baseline cost 0.5 and a gradient-norm
    clip of 40 are the paper's, as the families' defaults."""

    rollout_length: int = 5
    """t_max: steps each actor-learner runs between gradients (the paper: 5)."""
    num_workers: int = 16
    """Actor-learner actors (the paper: 16 threads)."""
    num_envs_per_worker: int = 1
    """Envs each actor-learner steps (the paper: 1); more envs give each gradient more, less correlated samples."""
    lr: float = 7e-4
    """Learning rate, annealed linearly to 0 over ``lr_anneal_timesteps``."""
    optimizer_eps: float = 0.1
    """Shared RMSProp's epsilon (the paper: 0.1)."""
    lr_anneal_timesteps: int = 80_000_000
    """Env steps over which lr decays to 0 (the paper trained 80M steps = 320M frames)."""
    hidden_sizes: tuple = (256,)
    """MLP encoder sizes for vector observations (images use the Nature CNN)."""


# Classic control: a small network, Adam, and a few workers of several envs each for this 2-core machine.
VECTOR_PRESET = dict(
    hidden_sizes=(64, 64),
    # Values near 10 rather than 100 on CartPole, as IMPALA's preset: a mean return of 450 in about 750 server
    # updates rather than 1300-1900, and with use_lstm 150 in about 300 rather than 5300.
    reward_scale=0.1,
    lstm_size=64,  # with use_lstm, as IMPALA's preset
    num_workers=2,
    num_envs_per_worker=16,
    rollout_length=10,
    optimizer="adam",
    lr=1e-3,
    optimizer_eps=1e-8,
    lr_anneal_timesteps=0,
    learner_cpus=0.5,
    worker_cpus=0.75,
)

# Atari: the paper's settings (the dataclass defaults) with this machine-sized topology.
ATARI_PRESET = dict(num_workers=2, num_envs_per_worker=8)
