"""What the Q-learning algorithms share (DQN, Ape-X, GORILA; R2D2 to come): config fields (and DQN's annealed
epsilon), the learner actor with DQN's loss, and the transition workers' arguments. Each algorithm's config
overrides only the defaults that differ, and its plan adds only what its paper adds (a replay ratio, shards and
per-actor epsilons, a parameter server)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from rayrl.config import CommonConfig, check


@dataclass(frozen=True)
class QLearningConfig(CommonConfig):
    rollout_length: int = 4
    """Env steps per worker sample call and env."""
    gamma: float = 0.99
    """Discount."""
    n_step: int = 1
    """Steps per transition: 1 is Nature DQN; Ape-X and Rainbow use 3."""
    double_q: bool = False
    """Double Q-learning targets (van Hasselt et al. 2016): the online network selects, the target evaluates."""
    dueling: bool = False
    """A dueling head (Wang et al. 2016)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    learning_starts: int = 50_000
    """Transitions collected before the learner starts sampling (the paper's replay start size)."""
    batch_size: int = 32
    """Transitions per learner update."""
    target_update_period: int = 10_000
    """Learner updates between copies of the online network into the target network."""
    priority_exponent: float = 0.6
    """alpha of proportional prioritized replay (Schaul et al. 2016; Ape-X: 0.6)."""
    importance_exponent: float = 0.4
    """beta of prioritized replay, constant as in Ape-X."""

    def __post_init__(self):
        super().__post_init__()
        check(self.rollout_length >= 1, "rollout_length", self.rollout_length, "use 1 or more steps")
        check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "use a discount in [0, 1]")
        check(1 <= self.n_step <= self.rollout_length, "n_step", self.n_step, "use 1 to rollout_length steps")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "use 1 or more transitions")
        check(self.buffer_size >= self.batch_size, "buffer_size", self.buffer_size, "hold at least one batch")
        check(self.learning_starts >= 1, "learning_starts", self.learning_starts, "use 1 or more transitions")
        check(self.target_update_period >= 1, "target_update_period", self.target_update_period, "use 1 or more")
        check(self.priority_exponent >= 0, "priority_exponent", self.priority_exponent, "use 0 or more")
        check(self.importance_exponent >= 0, "importance_exponent", self.importance_exponent, "use 0 or more")

    def q_network(self, observation_space, action_space):
        """The Q-network this algorithm learns and acts with: a feed-forward
        :class:`~rayrl.models.q_network.QNetwork` here (R2D2's is recurrent)."""
        from rayrl.models.q_network import QNetwork

        return QNetwork(observation_space, action_space, self.hidden_sizes, self.dueling)

    def actor_kwargs(self) -> dict[str, Any]:
        """What the workers take beyond the env, model and seed: the n-step transitions' settings (R2D2's workers
        take their sequences' instead)."""
        return dict(n_step=self.n_step, gamma=self.gamma)

    def loss_fn(self):
        """The learner's loss: DQN's (Huber loss of n-step, optionally double, Q-learning TD errors)."""
        from rayrl.algorithms.dqn.loss import dqn_loss

        return functools.partial(dqn_loss, double_q=self.double_q)


@dataclass(frozen=True)
class AnnealedEpsilonConfig(QLearningConfig):
    """Nature DQN's exploration, shared by DQN and GORILA: every worker anneals one epsilon over its env steps."""

    epsilon_start: float = 1.0
    """Exploration rate at the first step."""
    epsilon_end: float = 0.1
    """Exploration rate after epsilon_timesteps."""
    epsilon_timesteps: int = 1_000_000
    """Env steps per worker over which epsilon anneals linearly (the paper: 1M frames)."""

    def __post_init__(self):
        super().__post_init__()
        for key in ("epsilon_start", "epsilon_end"):
            check(0.0 <= getattr(self, key) <= 1.0, key, getattr(self, key), "use a rate in [0, 1]")
        check(self.epsilon_timesteps >= 1, "epsilon_timesteps", self.epsilon_timesteps, "use 1 or more")

    def epsilon_schedule(self):
        """The :class:`~rayrl.replay.LinearSchedule` of epsilon over a worker's env steps."""
        from rayrl.replay import LinearSchedule

        return LinearSchedule(self.epsilon_start, self.epsilon_end, self.epsilon_timesteps)


# Classic control, what DQN's and Ape-X's presets share: a 64x64 MLP, one worker of 32 envs, a small replay that
# starts early, Adam. The learner is the bottleneck on a small machine and an update's cost is mostly fixed overhead
# (batch 256 costs about 1.3x batch 64), so batches are large and the target network follows often. Measured
# choices are in the algorithms' READMEs.
VECTOR_PRESET = dict(
    hidden_sizes=(64, 64),
    num_workers=1,
    num_envs_per_worker=32,
    rollout_length=8,
    buffer_size=50_000,
    learning_starts=1_000,
    batch_size=256,
    target_update_period=100,
    optimizer="adam",
    lr=1e-3,
    optimizer_eps=1e-8,
    max_grad_norm=10.0,
)


# What DQN's and GORILA's classic-control presets add to it: the modern extras, prioritized replay, and an epsilon
# annealed to 0.02 over 10K steps per worker.
ANNEALED_VECTOR_PRESET = dict(
    VECTOR_PRESET,
    n_step=3,
    double_q=True,
    dueling=True,
    prioritized_replay=True,
    epsilon_end=0.02,
    epsilon_timesteps=10_000,
)


def q_network_fn(config: QLearningConfig):
    """The Q-network constructor (:meth:`QLearningConfig.q_network`) for ``config``'s env, tried once here so that
    spaces the model cannot handle fail in one line, and the env's frame-stack depth (None unless Atari), with
    which replay stores each frame once."""
    # Imported here, not above: configs load without torch, so the CLI checks its input before torch and Ray start.
    from rayrl.envs import frame_stack_depth, make_env

    probe = make_env(config.env, env_kwargs=config.env_kwargs)
    fn = functools.partial(config.q_network, probe.observation_space, probe.action_space)
    frame_stack = frame_stack_depth(probe)
    probe.close()
    fn()
    return fn, frame_stack


def start_learner(config: QLearningConfig):
    """The :class:`~rayrl.components.q_learner.QLearner` actor for ``config``'s env (online and target Q-network,
    the config's loss), and the env's frame-stack depth (see :func:`q_network_fn`)."""
    from rayrl.components.learner import start_learner
    from rayrl.components.q_learner import QLearner
    from rayrl.models.q_network import OnlineAndTarget

    network_fn, frame_stack = q_network_fn(config)
    learner = start_learner(config, model_fn=lambda: OnlineAndTarget(network_fn()),
                            loss_fn=config.loss_fn(), learner_cls=QLearner,
                            target_update_period=config.target_update_period)
    return learner, frame_stack


def worker_kwargs(config: QLearningConfig, index: int, incarnation: int, **extra: Any) -> dict[str, Any]:
    """Worker arguments of worker ``index`` (:class:`~rayrl.components.transition_worker.TransitionWorker`, or
    R2D2's :class:`~rayrl.components.sequence_worker.SequenceWorker`): the env, model and the config's
    :meth:`~QLearningConfig.actor_kwargs` every Q-learning plan passes, fresh seeds per incarnation, and the plan's
    ``extra``."""
    c = config
    return dict(env=c.env, env_kwargs=c.env_kwargs, num_envs=c.num_envs_per_worker, rollout_length=c.rollout_length,
                hidden_sizes=c.hidden_sizes, dueling=c.dueling, seed=c.seed + 1000 * index + 100_000 * incarnation,
                **c.actor_kwargs(), **extra)
