"""QNetwork: shapes over both encoders, the dueling recombination, and the error for non-Discrete actions."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.errors import RayrlError
from rayrl.models import DuelingHead, QNetwork


@pytest.mark.parametrize("dueling", [False, True])
def test_q_values_over_vector_observations(dueling):
    net = QNetwork(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), (32, 32), dueling)
    q = net(torch.zeros(5, 4))
    assert q.shape == (5, 3)
    q.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_q_values_over_atari_stacks_use_the_nature_cnn():
    net = QNetwork(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6), (), dueling=True)
    assert net(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 6)
    assert net.head.value[0].in_features == 512


def test_dueling_head_is_value_plus_centred_advantage():
    torch.manual_seed(0)
    head = DuelingHead(8, 4, 16)
    features = torch.randn(10, 8)
    value, advantage = head.value(features), head.advantage(features)
    expected = value + advantage - advantage.mean(dim=1, keepdim=True)
    torch.testing.assert_close(head(features), expected)
    # The mean over actions of q is V: the advantages are centred.
    torch.testing.assert_close(head(features).mean(dim=1, keepdim=True), value)


@pytest.mark.parametrize("space", [gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([2, 3])])
def test_non_discrete_actions_are_a_one_line_error(space):
    with pytest.raises(RayrlError, match="Discrete action space") as info:
        QNetwork(gym.spaces.Box(-1, 1, (4,)), space, (8,), dueling=False)
    assert "\n" not in str(info.value)
