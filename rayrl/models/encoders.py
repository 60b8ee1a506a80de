"""Observation encoders: an MLP for vector observations, the Nature CNN for stacked Atari frames."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Flattens the observation and applies tanh-activated linear layers."""

    def __init__(self, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...]):
        super().__init__()
        sizes = [int(torch.tensor(obs_shape).prod())] + list(hidden_sizes)
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.out_features = sizes[-1]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.float())


class NatureCNN(nn.Module):
    """Mnih et al. 2015: conv 32x8x8/4, 64x4x4/2, 64x3x3/1, fc 512, on uint8 frames scaled to [0, 1] here."""

    def __init__(self, obs_shape: tuple[int, ...]):
        super().__init__()
        channels = obs_shape[0]
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n_flat, 512), nn.ReLU())
        self.out_features = 512

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # Frames travel as uint8 (4x smaller in the object store); scale on the device that runs the model.
        return self.fc(self.convs(obs.float() / 255.0))


def make_encoder(obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...]) -> nn.Module:
    """The Nature CNN for image stacks ([C, H, W] with H, W >= 36), an MLP otherwise."""
    if len(obs_shape) == 3 and min(obs_shape[1:]) >= 36:
        return NatureCNN(obs_shape)
    return MLP(obs_shape, hidden_sizes)
