"""Recurrent networks: R2D2's LSTM Q-network (Kapturowski et al. 2019) and a recurrent actor-critic (the LSTM
agents of A3C, Mnih et al. 2016, and IMPALA, Espeholt et al. 2018), over one shared core.

The core encodes each observation (MLP or Nature CNN), concatenates the previous action (one-hot for Discrete
actions, the raw vector for 1-D Box actions) and the previous reward, and feeds them to an LSTM (R2D2, section 2.3:
"the LSTM receives the reward and one-hot action vector from the previous time step"). Everything is time-major::

    forward(obs [T, B, *obs_shape], prev_action [T, B] or [T, B, A], prev_reward [T, B], state, first [T, B] | None)
        -> (..., state after the last step)

``state = (state_h, state_c)``, each ``[B, lstm_size]``: the core state before step 0. Where ``first[t]`` is True
(obs[t] starts an episode) the state is reset to zeros before step t, so one unroll over several episodes equals
separate unrolls of each from a zero state. ``step`` methods take one step ``[B, ...]`` for actors.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rayrl.errors import RayrlError
from rayrl.models.actor_critic import make_distribution, make_policy_head
from rayrl.models.encoders import make_encoder
from rayrl.models.q_network import DuelingHead
from rayrl.models.spaces import check_action_space, check_discrete_action_space, check_observation_space

CoreState = tuple[torch.Tensor, torch.Tensor]
"""``(state_h, state_c)``: an LSTM's hidden and cell state, each ``[B, lstm_size]``."""


class RecurrentCore(nn.Module):
    """Encoder, then an LSTM over ``[features, prev_action, tanh(prev_reward)]``: ``[T, B, lstm_size]`` features.

    The previous reward is squashed by tanh (as Acme's ``OAREmbedding``): R2D2 does not clip rewards, and raw Atari
    scores would swamp the LSTM's inputs.

    Args:
        observation_space: a Box; image stacks get the Nature CNN, vectors an MLP.
        action_space: Discrete (previous actions one-hot) or a 1-D Box (previous actions as they are).
        hidden_sizes: the MLP's layers (vector observations only).
        lstm_size: the LSTM's width (R2D2: 512).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden_sizes: tuple[int, ...],
                 lstm_size: int):
        super().__init__()
        self.encoder = make_encoder(check_observation_space(observation_space), hidden_sizes)
        self.discrete = check_action_space(action_space) == "discrete"
        self.action_inputs = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.lstm = nn.LSTM(self.encoder.out_features + self.action_inputs + 1, lstm_size)
        self.lstm_size = lstm_size

    def initial_state(self, batch_size: int) -> CoreState:
        """Zeros ``[batch_size, lstm_size]`` (twice), on the module's device."""
        device = next(self.parameters()).device
        zeros = torch.zeros(batch_size, self.lstm_size, device=device)
        return zeros, zeros.clone()

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, state: CoreState,
                first: torch.Tensor | None = None) -> tuple[torch.Tensor, CoreState]:
        seq_len, batch = obs.shape[:2]
        features = self.encoder(obs.reshape(seq_len * batch, *obs.shape[2:])).reshape(seq_len, batch, -1)
        if self.discrete:
            action = nn.functional.one_hot(prev_action.long(), self.action_inputs).to(features.dtype)
        else:
            action = prev_action.to(features.dtype)
        reward = torch.tanh(prev_reward.to(features.dtype)).unsqueeze(-1)
        inputs = torch.cat([features, action, reward], dim=-1)
        # One LSTM call per segment between the steps where some episode starts (one call when none does after
        # t = 0, as in replayed sequences): cuDNN runs a whole segment at once, a Python loop per step would not.
        starts = [0]
        if first is not None:
            starts += (first[1:].any(dim=1).nonzero().flatten() + 1).tolist()
        h, c = state
        outputs = []
        for start, end in zip(starts, starts[1:] + [seq_len]):
            if first is not None:
                reset = first[start].unsqueeze(-1)
                h, c = torch.where(reset, 0.0, h), torch.where(reset, 0.0, c)
            out, (h, c) = self.lstm(inputs[start:end], (h.unsqueeze(0), c.unsqueeze(0)))
            h, c = h.squeeze(0), c.squeeze(0)
            outputs.append(out)
        return torch.cat(outputs), (h, c)


def _add_time(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    """One step ``[B, ...]`` as a sequence of length 1 ``[1, B, ...]``."""
    return [None if x is None else x.unsqueeze(0) for x in tensors]


class RecurrentQNetwork(nn.Module):
    """R2D2's network: the recurrent core, then a dueling (Wang et al. 2016) or linear head.

    ``forward(...) -> (q [T, B, num_actions], state)``; ``step(...)`` is one step ``[B, ...] -> q [B, A]``.

    Args:
        observation_space: a Box.
        action_space: a Discrete space.
        hidden_sizes: the MLP's layers (vector observations only).
        dueling: a dueling head instead of one linear layer; its streams are ``lstm_size`` wide (R2D2: 512).
        lstm_size: the LSTM's width.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden_sizes: tuple[int, ...],
                 dueling: bool, lstm_size: int):
        super().__init__()
        self.num_actions = check_discrete_action_space(action_space)
        self.core = RecurrentCore(observation_space, action_space, hidden_sizes, lstm_size)
        self.head = (DuelingHead(lstm_size, self.num_actions, lstm_size) if dueling
                     else nn.Linear(lstm_size, self.num_actions))

    def initial_state(self, batch_size: int) -> CoreState:
        return self.core.initial_state(batch_size)

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, state: CoreState,
                first: torch.Tensor | None = None) -> tuple[torch.Tensor, CoreState]:
        features, state = self.core(obs, prev_action, prev_reward, state, first)
        return self.head(features), state

    def step(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, state: CoreState,
             first: torch.Tensor | None = None) -> tuple[torch.Tensor, CoreState]:
        """One step for an actor: ``obs [B, ...]`` etc. in, ``q [B, num_actions]`` and the next state out."""
        q, state = self(*_add_time(obs, prev_action, prev_reward), state, *_add_time(first))
        return q.squeeze(0), state


class RecurrentActorCritic(nn.Module):
    """The recurrent core, then ActorCritic's policy head (same init) and a value head, both on the LSTM's output
    (as the A3C and IMPALA LSTM agents; ActorCritic's separate value MLP has no place after a shared core).

    ``forward(...) -> (policy params [T, B, P], value [T, B], state)``; ``distribution`` interprets the params;
    ``policy_step(...)`` is one step ``[B, ...] -> params [B, P]`` for rollout workers.

    Args:
        observation_space: a Box.
        action_space: Discrete (Categorical policy) or a 1-D Box (diagonal Gaussian).
        hidden_sizes: the MLP's layers (vector observations only).
        lstm_size: the LSTM's width (IMPALA's deep agent: 256).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden_sizes: tuple[int, ...],
                 lstm_size: int):
        super().__init__()
        self.distribution = make_distribution(action_space)
        self.core = RecurrentCore(observation_space, action_space, hidden_sizes, lstm_size)
        self.policy = make_policy_head(lstm_size, self.distribution)
        self.value = nn.Linear(lstm_size, 1)

    def initial_state(self, batch_size: int) -> CoreState:
        return self.core.initial_state(batch_size)

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, state: CoreState,
                first: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, CoreState]:
        features, state = self.core(obs, prev_action, prev_reward, state, first)
        return self.policy(features), self.value(features).squeeze(-1), state

    def policy_step(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor, state: CoreState,
                    first: torch.Tensor | None = None) -> tuple[torch.Tensor, CoreState]:
        """One step for a rollout worker, the policy head alone: ``params [B, P]`` and the next state."""
        features, state = self.core(*_add_time(obs, prev_action, prev_reward), state, *_add_time(first))
        return self.policy(features.squeeze(0)), state


def stack_frames(frames: torch.Tensor, stack: int) -> torch.Tensor:
    """Each step's frame stack from a sequence item's frames, batch-major: ``[N, C + L, H, W] -> [N, L, S, H, W]``.

    Step t's stack is ``frames[:, t : t + S]`` (the preamble's ``frames`` field, ``C = S - 1`` context frames), taken
    as a view by ``unfold``: the ``S``-fold copy happens once, where the encoder reads it.

    Args:
        frames: ``[N, C + L, H, W]`` the newest frame of each step after ``C = stack - 1`` context frames.
        stack: the stack depth ``S >= 1``.

    Returns:
        ``[N, L, S, H, W]`` with ``L = frames.shape[1] - stack + 1``.
    """
    if frames.dim() != 4 or not 1 <= stack <= frames.shape[1]:
        raise RayrlError(f"stack_frames needs frames [N, C + L, H, W] with at least stack = {stack} >= 1 frames, "
                         f"got shape {tuple(frames.shape)}; pass the item's frames field and its frame stack depth")
    return frames.unfold(1, stack, 1).permute(0, 1, 4, 2, 3)
