"""Action distributions over flat parameter vectors, so behaviour policies travel as plain arrays.

Each distribution is stateless: ``params [..., P]`` in, tensors out. Rollouts store the behaviour ``params`` (mu)
and learners recompute log-probabilities under both pi and mu for importance weights.
"""

from __future__ import annotations

import math

import torch


class Categorical:
    """Discrete actions; params are the logits."""

    def __init__(self, num_actions: int):
        self.num_params = num_actions
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype = torch.int64

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        # Gumbel-max: one argmax, cheaper than torch.distributions on the rollout hot path.
        noise = torch.empty_like(params).uniform_(1e-10, 1.0)
        return torch.argmax(params - torch.log(-torch.log(noise)), dim=-1)

    def greedy(self, params: torch.Tensor) -> torch.Tensor:
        return torch.argmax(params, dim=-1)

    def log_prob(self, params: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(params, dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(params, dim=-1)
        return -(log_p.exp() * log_p).sum(-1)


class DiagGaussian:
    """Continuous actions (A3C's MuJoCo policy): params are the mean and the log standard deviation."""

    def __init__(self, action_dim: int):
        self.num_params = 2 * action_dim
        self.action_shape = (action_dim,)
        self.action_dtype = torch.float32

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = params.chunk(2, dim=-1)
        return mean, log_std.clamp(-20.0, 2.0)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        mean, log_std = self._split(params)
        return mean + log_std.exp() * torch.randn_like(mean)

    def greedy(self, params: torch.Tensor) -> torch.Tensor:
        return self._split(params)[0]

    def log_prob(self, params: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        mean, log_std = self._split(params)
        z = (actions - mean) / log_std.exp()
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        _, log_std = self._split(params)
        return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
