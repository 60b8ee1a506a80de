"""The sequence worker: the env loop with a recurrent Q-network's epsilon-greedy actions; R2D2's replay sequences out.

R2D2 (Kapturowski et al. 2019, sec. 2.3): each actor acts with an LSTM Q-network whose state it carries across
steps, and stores fixed-length sequences with the recurrent state at their start, so the learner can start its
unroll from the state the actor had (and refresh it by a burn-in). Here that is the env loop's recurrent core and
a :class:`~rayrl.replay.sequence_adder.SequenceAdder` as the writer: sequences of ``sequence_length`` steps every
``sequence_period`` steps of an episode, padded past its end, in the item format of the adder's docstring.
New sequences enter replay without a priority, so a prioritized shard gives them the largest one seen so far.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from rayrl.components.env_worker import CoreState, EnvWorker, make_envs
from rayrl.components.transition_worker import EpsilonGreedyCore
from rayrl.core import Batch
from rayrl.envs import AtariOptions, frame_stack_depth
from rayrl.models.recurrent import RecurrentQNetwork
from rayrl.replay import LinearSchedule
from rayrl.replay.sequence_adder import SequenceAdder


class RecurrentEpsilonGreedyCore(EpsilonGreedyCore):
    """Epsilon-greedy over a :class:`RecurrentQNetwork`, whose LSTM state (``state_h``, ``state_c``) it carries
    from step to step; the env loop resets it to zeros where an episode starts."""

    def initial_state(self, num_envs: int) -> CoreState:
        state_h, state_c = self.model.initial_state(num_envs)
        return {"state_h": state_h.numpy(), "state_c": state_c.numpy()}

    def q_values(self, inputs: Batch, state: CoreState) -> tuple[torch.Tensor, CoreState]:
        tensors = {name: torch.from_numpy(value) for name, value in {**inputs, **state}.items()}
        q, (state_h, state_c) = self.model.step(tensors["obs"], tensors["prev_action"], tensors["prev_reward"],
                                                (tensors["state_h"], tensors["state_c"]))
        return q, {"state_h": state_h.numpy(), "state_c": state_c.numpy()}


class SequenceWorker(EnvWorker):
    """Acts epsilon-greedily with the newest recurrent Q-network it has pulled; ``sample`` returns the sequences
    its envs completed (R2D2's actor).

    Args:
        lstm_size: as :class:`RecurrentQNetwork`.
        sequence_length, sequence_period: the sequences' length and the steps between their starts.
        atari: the Atari preprocessing (R2D2: no reward clipping, no life loss), None for the standard one.
        Others as :class:`~rayrl.components.transition_worker.TransitionWorker`.
    """

    def __init__(self, *, env: str, num_envs: int, rollout_length: int, seed: int, hidden_sizes: tuple[int, ...],
                 dueling: bool, lstm_size: int, sequence_length: int, sequence_period: int,
                 epsilon: float | Sequence[float] | LinearSchedule, env_kwargs: dict[str, Any] | None = None,
                 atari: AtariOptions | None = None, pull_period_steps: int = 0):
        envs = make_envs(env, num_envs, seed=seed, env_kwargs=env_kwargs, atari=atari)
        model = RecurrentQNetwork(envs.single_observation_space, envs.single_action_space, hidden_sizes, dueling,
                                  lstm_size)
        core = RecurrentEpsilonGreedyCore(model, epsilon=epsilon, num_envs=num_envs, seed=seed)
        super().__init__(envs=envs, core=core, rollout_length=rollout_length, seed=seed,
                         pull_period_steps=pull_period_steps)
        self.frame_stack = frame_stack_depth(envs.envs[0])
        self.write = SequenceAdder(num_envs, sequence_length, sequence_period, self.frame_stack).add
