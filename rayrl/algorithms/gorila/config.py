"""GORILA's config: Nature DQN's Atari settings (Nair et al. 2015 kept them) on a parameter server."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms import q_learning
from rayrl.algorithms.async_sgd import AsyncSGDConfig
from rayrl.algorithms.q_learning import AnnealedEpsilonConfig
from rayrl.config import check

REPLAYS = ("local", "global")


@dataclass(frozen=True)
class GorilaConfig(AsyncSGDConfig, AnnealedEpsilonConfig):
    """Bundled actor-learners on a parameter server (AsyncSGDConfig first, so that its defaults for CommonConfig's
    fields win over the inherited ones). Each learner's gradient is DQN's on one replay batch; gamma, replay,
    batch 32 per gradient, one gradient every 4 env steps per actor and epsilon 1 to 0.1 over 1M steps are Nature
    DQN's, as the family's defaults."""

    num_workers: int = 100
    """Actor-learners, each an actor with its learner in one process (the paper's bundled mode: 100)."""
    num_envs_per_worker: int = 1
    """Envs each actor steps (the paper: one)."""
    num_ps_shards: int = 31
    """Parameter-server shards (the paper: 31)."""
    replay: str = "local"
    """Where experience goes: "local", each actor-learner's own replay of buffer_size / num_workers transitions
    (the paper's bundled mode), or "global", num_replay_shards shard actors every actor writes to and every
    learner samples from."""
    num_replay_shards: int = 4
    """Global replay shard actors (no CPU reserved each), buffer_size / num_replay_shards transitions each; each
    worker writes to shard (index mod shards). Unused with local replay."""
    prioritized_replay: bool = False
    """Proportional prioritized replay (Schaul et al. 2016; a modern extra, the paper's replay is uniform): each
    learner sends its batch's |TD error| + eps back to the replay it came from."""
    target_update_period: int = 10_000
    """Server versions (applied updates) between refreshes of each learner's target network, a copy of the
    server's parameters."""
    optimizer: str = "rmsprop"
    """rmsprop (DQN's) or adam, one optimizer state on the server."""
    lr: float = 2.5e-4
    """Learning rate (constant)."""
    optimizer_eps: float = 0.01
    """RMSProp's epsilon (DQN's min squared gradient) or Adam's."""
    rmsprop_decay: float = 0.95
    """RMSProp's moving-average decay (DQN's)."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip, applied by each learner before its gradient leaves."""

    def __post_init__(self):
        super().__post_init__()
        check(self.replay in REPLAYS, "replay", self.replay, "use 'local' (bundled) or 'global' (replay shards)")
        check(self.num_replay_shards >= 1, "num_replay_shards", self.num_replay_shards, "use 1 or more")
        replays = self.num_workers if self.replay == "local" else self.num_replay_shards
        check(self.buffer_size >= self.batch_size * replays, "buffer_size", self.buffer_size,
              f"hold at least one batch per {'worker' if self.replay == 'local' else 'replay shard'}")
        check(not self.sync, "sync", self.sync, "use false: GORILA applies each gradient as it arrives")


# Classic control: DQN's classic-control base (q_learning.ANNEALED_VECTOR_PRESET) on one actor-learner of 16 envs
# and one server shard, for this 2-core machine: each gradient samples 256 transitions per 64 env steps (4 steps of
# 16 envs) from a prioritized local replay of 100K. A second actor-learner adds 40% to the update rate here (118
# against 84 applied updates/s) but needed about twice the updates to reach 450 (README: measured choices), so one
# is faster on two cores.
VECTOR_PRESET = dict(
    q_learning.ANNEALED_VECTOR_PRESET,
    buffer_size=100_000,
    num_workers=1,
    num_envs_per_worker=16,
    rollout_length=4,
    num_ps_shards=1,
    learner_cpus=0.5,
    worker_cpus=0.75,
)

# Atari: the paper's settings (the dataclass defaults) with this machine-sized topology.
ATARI_PRESET = dict(num_workers=2, num_ps_shards=1)
