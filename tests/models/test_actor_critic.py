"""ActorCritic: encoder choice, output shapes per space, one-line errors for unsupported spaces, initial policy."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.errors import RayrlError
from rayrl.models import MLP, ActorCritic, Categorical, DiagGaussian, NatureCNN, action_bounds

Box, Discrete = gym.spaces.Box, gym.spaces.Discrete
CARTPOLE = (Box(-np.inf, np.inf, (4,), np.float32), Discrete(2))
ATARI = (Box(0, 255, (4, 84, 84), np.uint8), Discrete(6))
PENDULUM = (Box(-8.0, 8.0, (3,), np.float32), Box(-2.0, 2.0, (1,), np.float32))
SMALL_IMAGE = (Box(0.0, 1.0, (3, 10, 10), np.float32), Discrete(3))  # too small for the Nature CNN


def observations(space: gym.Space, n: int) -> torch.Tensor:
    space.seed(0)
    return torch.from_numpy(np.stack([space.sample() for _ in range(n)]))


@pytest.mark.parametrize(
    "spaces, encoder, dist, num_params",
    [(CARTPOLE, MLP, Categorical, 2), (ATARI, NatureCNN, Categorical, 6), (PENDULUM, MLP, DiagGaussian, 2),
     (SMALL_IMAGE, MLP, Categorical, 3)],
    ids=["cartpole", "atari_uint8", "pendulum", "small_image"],
)
def test_forward_gives_params_and_value_per_observation(spaces, encoder, dist, num_params):
    torch.manual_seed(0)
    model = ActorCritic(*spaces, hidden_sizes=(32, 32))
    assert isinstance(model.encoder, encoder) and isinstance(model.distribution, dist)
    obs = observations(spaces[0], 5)
    params, value = model(obs)
    assert params.shape == (5, num_params) and value.shape == (5,)
    assert params.dtype == value.dtype == torch.float32
    assert torch.isfinite(params).all() and torch.isfinite(value).all()


def test_mlp_hidden_sizes_set_the_layers():
    model = ActorCritic(*CARTPOLE, hidden_sizes=(16, 8))
    linears = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 16), (16, 8)]


def test_uint8_frames_give_the_same_output_as_the_same_values_in_float():
    torch.manual_seed(0)
    model = ActorCritic(*ATARI, hidden_sizes=())
    frames = observations(ATARI[0], 2)
    assert frames.dtype == torch.uint8
    for uint8_out, float_out in zip(model(frames), model(frames.float())):
        torch.testing.assert_close(uint8_out, float_out)


@pytest.mark.parametrize(
    "observation_space, action_space",
    [(Discrete(5), Discrete(2)),
     (gym.spaces.Dict({"x": CARTPOLE[0]}), Discrete(2)),
     (CARTPOLE[0], gym.spaces.MultiDiscrete([2, 3])),
     (CARTPOLE[0], Box(-1.0, 1.0, (2, 2), np.float32)),
     (CARTPOLE[0], gym.spaces.MultiBinary(3))],
    ids=["discrete_obs", "dict_obs", "multidiscrete_action", "2d_box_action", "multibinary_action"],
)
def test_unsupported_spaces_raise_a_one_line_error_naming_the_space(observation_space, action_space):
    with pytest.raises(RayrlError) as info:
        ActorCritic(observation_space, action_space, hidden_sizes=(8,))
    message = str(info.value)
    assert "\n" not in message and "not supported" in message
    assert str(observation_space) in message or str(action_space) in message


def test_initial_discrete_policy_is_near_uniform():
    torch.manual_seed(0)
    model = ActorCritic(*CARTPOLE, hidden_sizes=(64, 64))
    logits, _ = model(torch.randn(256, 4) * 3)
    probs = torch.softmax(logits, -1)
    assert logits.abs().max() < 0.1
    torch.testing.assert_close(probs, torch.full_like(probs, 0.5), atol=0.03, rtol=0)


def test_initial_gaussian_policy_has_near_zero_mean_and_log_std_minus_half():
    torch.manual_seed(0)
    model = ActorCritic(*PENDULUM, hidden_sizes=(64, 64))
    params, _ = model(torch.randn(256, 3))
    mean, log_std = params.chunk(2, -1)
    assert mean.abs().max() < 0.1
    torch.testing.assert_close(log_std, torch.full_like(log_std, -0.5), atol=0.1, rtol=0)


def test_action_bounds_for_box_and_none_for_discrete():
    low, high = action_bounds(PENDULUM[1])
    np.testing.assert_array_equal(low, [-2.0])
    np.testing.assert_array_equal(high, [2.0])
    assert low.dtype == high.dtype == np.float32
    assert action_bounds(CARTPOLE[1]) is None
