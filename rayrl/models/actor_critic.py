"""Actor-critic networks: an encoder, a policy head emitting distribution parameters and a value head."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rayrl.models.distributions import Categorical, DiagGaussian
from rayrl.models.encoders import NatureCNN, make_encoder
from rayrl.models.spaces import check_action_space, check_observation_space


def make_distribution(action_space: gym.Space):
    """Categorical for Discrete spaces, diagonal Gaussian for 1-D Box spaces."""
    if check_action_space(action_space) == "discrete":
        return Categorical(int(action_space.n))
    return DiagGaussian(action_space.shape[0])


def make_policy_head(in_features: int, distribution: Categorical | DiagGaussian) -> nn.Linear:
    """The linear layer emitting ``distribution``'s params, initialised for a near-uniform starting policy."""
    policy = nn.Linear(in_features, distribution.num_params)
    # Small policy init gives a near-uniform starting policy (as in the A3C and PPO reference code).
    nn.init.orthogonal_(policy.weight, gain=0.01)
    nn.init.zeros_(policy.bias)
    if isinstance(distribution, DiagGaussian):
        with torch.no_grad():  # start with std ~ 0.6 of a unit action range rather than e^0
            policy.bias[distribution.num_params // 2 :] = -0.5
    return policy


class ActorCritic(nn.Module):
    """``forward(obs [N, ...]) -> (policy params [N, P], value [N])``; ``distribution`` interprets the params."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, hidden_sizes: tuple[int, ...]):
        super().__init__()
        obs_shape = check_observation_space(observation_space)
        self.distribution = make_distribution(action_space)
        self.encoder = make_encoder(obs_shape, hidden_sizes)
        # Image models share the CNN (as in the papers); small vector models learn faster with a separate value
        # network, so the large value-loss gradients early in training do not swamp the policy's features.
        self.value_encoder = None if isinstance(self.encoder, NatureCNN) else make_encoder(obs_shape, hidden_sizes)
        self.policy = make_policy_head(self.encoder.out_features, self.distribution)
        self.value = nn.Linear(self.encoder.out_features, 1)

    def policy_params(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy head alone: what a rollout worker needs (it never reads the value)."""
        return self.policy(self.encoder(obs))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(obs)
        value_features = features if self.value_encoder is None else self.value_encoder(obs)
        return self.policy(features), self.value(value_features).squeeze(-1)

