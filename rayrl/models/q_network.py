"""Q-networks for Discrete actions: an encoder (MLP or Nature CNN) and a linear or dueling head.

``forward(obs [N, ...]) -> q [N, num_actions]``. The dueling head (Wang et al. 2016, eq. 9) splits the network into a
state value V(s) and advantages A(s, a) and recombines them as ``q = V + A - mean_a A``: subtracting the mean makes
the split identifiable and keeps the advantages' scale stable, so V learns from every action's update.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import torch
from torch import nn

from rayrl.models.encoders import make_encoder
from rayrl.models.spaces import check_discrete_action_space, check_observation_space


class DuelingHead(nn.Module):
    """``q = V + A - mean_a A`` over shared features (Wang et al. 2016), each stream one hidden layer deep."""

    def __init__(self, in_features: int, num_actions: int, hidden_size: int):
        super().__init__()
        self.value = nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))
        self.advantage = nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(),
                                       nn.Linear(hidden_size, num_actions))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)


class QNetwork(nn.Module):
    """Action values ``q [N, num_actions]`` for observations ``[N, *obs_shape]``.

    Args:
        observation_space: a Box; image stacks get the Nature CNN (Mnih et al. 2015), vectors an MLP.
        action_space: a Discrete space.
        hidden_sizes: the MLP's layers (vector observations only).
        dueling: a dueling head (Wang et al. 2016) instead of one linear layer. Its streams are as wide as the
            encoder's output (512 after the Nature CNN, as in the paper).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden_sizes: tuple[int, ...],
                 dueling: bool):
        super().__init__()
        self.num_actions = check_discrete_action_space(action_space)
        self.encoder = make_encoder(check_observation_space(observation_space), hidden_sizes)
        width = self.encoder.out_features
        self.head = DuelingHead(width, self.num_actions, width) if dueling else nn.Linear(width, self.num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


class OnlineAndTarget(nn.Module):
    """The online Q-network and its target copy (Mnih et al. 2015): targets come from weights held fixed for
    ``target_update_period`` updates, which keeps the regression target from chasing itself.

    The target's parameters take no gradient; both live in one module so checkpoints hold both.
    """

    def __init__(self, online: nn.Module):
        super().__init__()
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False)

    def sync_target(self) -> None:
        self.target.load_state_dict(self.online.state_dict())
