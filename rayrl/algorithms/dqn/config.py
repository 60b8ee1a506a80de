"""DQN's config: the Nature paper's Atari settings (Mnih et al. 2015, Extended Data Table 1) as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms import q_learning
from rayrl.algorithms.q_learning import AnnealedEpsilonConfig
from rayrl.config import check


@dataclass(frozen=True)
class DQNConfig(AnnealedEpsilonConfig):
    # rollout_length 4 (an update every 4 steps), n_step 1, no double Q or dueling, replay 1M, learning starts 50K,
    # batch 32, target update every 10K updates: the paper's, as QLearningConfig; epsilon 1 to 0.1 over 1M steps
    # as AnnealedEpsilonConfig.
    num_workers: int = 1
    """Rollout workers: DQN has one actor; more act with the same epsilon schedule."""
    num_envs_per_worker: int = 1
    """Envs per worker (the paper: one)."""
    samples_per_insert: float = 8.0
    """Replayed transitions per env step: 32 every 4 steps in the paper. The plan holds actors and learner to it."""
    prioritized_replay: bool = False
    """Proportional prioritized replay (Schaul et al. 2016) with priorities |TD error| + eps."""
    optimizer: str = "rmsprop"
    """rmsprop (paper) or adam."""
    lr: float = 2.5e-4
    """Learning rate (constant)."""
    optimizer_eps: float = 0.01
    """RMSProp's epsilon (the paper's min squared gradient) or Adam's."""
    rmsprop_decay: float = 0.95
    """RMSProp's moving-average decay (the paper's squared gradient momentum)."""
    momentum: float = 0.0
    """RMSProp momentum. The paper's "gradient momentum 0.95" belongs to DeepMind's centred RMSProp, which
    torch's momentum does not reproduce; 0 is the common reading."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip (the Huber loss already bounds each TD error's gradient)."""
    max_updates_in_flight: int = 2
    """Learner updates queued at once: the next sample is on its way while one trains."""

    def __post_init__(self):
        super().__post_init__()
        check(self.samples_per_insert > 0, "samples_per_insert", self.samples_per_insert, "use a positive ratio")
        check(self.max_updates_in_flight >= 1, "max_updates_in_flight", self.max_updates_in_flight, "use 1 or more")


# Classic control: the family's preset with the modern extras (q_learning.ANNEALED_VECTOR_PRESET), at a moderate
# replay ratio: 64 env steps an update, so 100 good episodes fill the return window soon after the policy gets there.
VECTOR_PRESET = dict(
    q_learning.ANNEALED_VECTOR_PRESET,
    samples_per_insert=4.0,
    max_updates_in_flight=4,
)

# Atari: the paper's settings (the dataclass defaults).
ATARI_PRESET: dict = {}
