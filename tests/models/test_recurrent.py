"""Recurrent networks: shapes, the reset at episode starts, the fast path against a step-by-step loop, the LSTM's
previous-action and -reward inputs, the actor-critic heads, and stack_frames against plain indexing."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.errors import RayrlError
from rayrl.models import (
    Categorical,
    DiagGaussian,
    NatureCNN,
    RecurrentActorCritic,
    RecurrentCore,
    RecurrentQNetwork,
    stack_frames,
)
from rayrl.models.q_network import DuelingHead, OnlineAndTarget

Box, Discrete = gym.spaces.Box, gym.spaces.Discrete
VECTOR = Box(-1, 1, (3,), np.float32)
ATARI = Box(0, 255, (4, 84, 84), np.uint8)


def inputs(T, B, num_actions=4, obs_shape=(3,), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(T, B, *obs_shape, generator=g), torch.randint(0, num_actions, (T, B), generator=g),
            3 * torch.randn(T, B, generator=g))


def random_state(B, H, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, generator=g), torch.randn(B, H, generator=g)


@pytest.mark.parametrize("dueling", [False, True])
def test_q_network_shapes_and_gradients(dueling):
    torch.manual_seed(0)
    net = RecurrentQNetwork(VECTOR, Discrete(4), (16,), dueling, lstm_size=8)
    assert isinstance(net.head, DuelingHead) == dueling
    q, (h, c) = net(*inputs(5, 2), net.initial_state(2))
    assert q.shape == (5, 2, 4) and h.shape == c.shape == (2, 8)
    q.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_q_network_over_atari_stacks_uses_the_nature_cnn():
    net = RecurrentQNetwork(ATARI, Discrete(6), (), dueling=True, lstm_size=16)
    assert isinstance(net.core.encoder, NatureCNN) and net.head.value[0].in_features == 16
    obs = torch.randint(0, 256, (3, 2, 4, 84, 84), dtype=torch.uint8)
    q, _ = net(obs, torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3, 2), net.initial_state(2))
    assert q.shape == (3, 2, 6)


def test_initial_state_is_zeros():
    h, c = RecurrentCore(VECTOR, Discrete(2), (8,), lstm_size=5).initial_state(3)
    assert h.shape == c.shape == (3, 5) and not h.any() and not c.any()


def test_unroll_with_first_flags_equals_each_episode_from_a_zero_state():
    torch.manual_seed(0)
    core = RecurrentCore(VECTOR, Discrete(4), (16,), lstm_size=8)
    T, B = 7, 3
    obs, prev_action, prev_reward = inputs(T, B)
    state = random_state(B, 8)
    first = torch.zeros(T, B, dtype=torch.bool)
    first[2, 0] = first[5, 0] = True  # column 0: three episodes, the first continuing from the given state
    first[0, 1] = first[3, 1] = True  # column 1: the given state is ignored at t = 0
    # column 2: one episode throughout, from the given state
    features, (h, c) = core(obs, prev_action, prev_reward, state, first)
    for b in range(B):
        starts = [0] + [t for t in range(1, T) if first[t, b]] + [T]
        for start, end in zip(starts[:-1], starts[1:]):
            if start == 0 and not first[0, b]:
                s = (state[0][b : b + 1], state[1][b : b + 1])
            else:
                s = core.initial_state(1)
            want, (want_h, want_c) = core(obs[start:end, b : b + 1], prev_action[start:end, b : b + 1],
                                          prev_reward[start:end, b : b + 1], s)
            torch.testing.assert_close(features[start:end, b : b + 1], want)
        torch.testing.assert_close(h[b : b + 1], want_h)
        torch.testing.assert_close(c[b : b + 1], want_c)


@pytest.mark.parametrize("flags", ["none", "only_at_0", "inside"])
def test_unroll_equals_the_step_by_step_loop(flags):
    torch.manual_seed(0)
    core = RecurrentCore(VECTOR, Discrete(4), (16,), lstm_size=8)
    T, B = 6, 4
    obs, prev_action, prev_reward = inputs(T, B)
    first = torch.zeros(T, B, dtype=torch.bool)
    if flags != "none":
        first[0, 1] = True
    if flags == "inside":
        first[3, 0] = first[3, 2] = first[4, 2] = True
    state = random_state(B, 8)
    features, final = core(obs, prev_action, prev_reward, state, None if flags == "none" else first)
    s, outs = state, []
    for t in range(T):
        keep = (~first[t]).float().unsqueeze(-1)
        s = (s[0] * keep, s[1] * keep)
        out, s = core(obs[t : t + 1], prev_action[t : t + 1], prev_reward[t : t + 1], s)
        outs.append(out)
    torch.testing.assert_close(features, torch.cat(outs))
    torch.testing.assert_close(final, s)


def _lstm_inputs(core, *args):
    seen = []
    handle = core.lstm.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    core(*args)
    handle.remove()
    return torch.cat(seen)


def test_lstm_reads_the_one_hot_previous_action_and_the_squashed_previous_reward():
    core = RecurrentCore(VECTOR, Discrete(4), (16,), lstm_size=8)
    obs, prev_action, prev_reward = inputs(3, 2)
    x = _lstm_inputs(core, obs, prev_action, prev_reward, core.initial_state(2))
    assert x.shape == (3, 2, 16 + 4 + 1)
    torch.testing.assert_close(x[..., :16], core.encoder(obs.reshape(6, 3)).reshape(3, 2, 16))
    torch.testing.assert_close(x[..., 16:20], torch.nn.functional.one_hot(prev_action, 4).float())
    torch.testing.assert_close(x[..., 20], torch.tanh(prev_reward))


def test_box_actions_enter_the_lstm_as_they_are():
    core = RecurrentCore(VECTOR, Box(-2, 2, (2,), np.float32), (16,), lstm_size=8)
    obs, _, prev_reward = inputs(3, 2)
    prev_action = torch.randn(3, 2, 2)
    x = _lstm_inputs(core, obs, prev_action, prev_reward, core.initial_state(2))
    torch.testing.assert_close(x[..., 16:18], prev_action)


def test_step_is_a_sequence_of_one():
    torch.manual_seed(0)
    net = RecurrentQNetwork(VECTOR, Discrete(4), (16,), dueling=True, lstm_size=8)
    obs, prev_action, prev_reward = inputs(1, 3)
    state, first = random_state(3, 8), torch.tensor([True, False, True])
    q, next_state = net.step(obs[0], prev_action[0], prev_reward[0], state, first)
    want, want_state = net(obs, prev_action, prev_reward, state, first.unsqueeze(0))
    assert q.shape == (3, 4)
    torch.testing.assert_close(q, want[0])
    torch.testing.assert_close(next_state, want_state)


def test_online_and_target_copies_the_recurrent_network():
    torch.manual_seed(0)
    model = OnlineAndTarget(RecurrentQNetwork(VECTOR, Discrete(4), (16,), dueling=True, lstm_size=8))
    args = (*inputs(4, 2), random_state(2, 8))
    assert not any(p.requires_grad for p in model.target.parameters())
    torch.testing.assert_close(model.target(*args)[0], model.online(*args)[0])
    with torch.no_grad():
        model.online.core.lstm.weight_hh_l0.add_(0.5)
    assert not torch.allclose(model.target(*args)[0], model.online(*args)[0])
    model.sync_target()
    torch.testing.assert_close(model.target(*args)[0], model.online(*args)[0])


@pytest.mark.parametrize("action_space, dist, num_params",
                         [(Discrete(3), Categorical, 3), (Box(-1, 1, (2,), np.float32), DiagGaussian, 4)])
def test_actor_critic_gives_params_and_values_per_step(action_space, dist, num_params):
    torch.manual_seed(0)
    model = RecurrentActorCritic(VECTOR, action_space, (16,), lstm_size=8)
    assert isinstance(model.distribution, dist)
    T, B = 5, 2
    obs, _, prev_reward = inputs(T, B)
    prev_action = (torch.zeros(T, B, dtype=torch.int64) if dist is Categorical else torch.zeros(T, B, 2))
    params, value, (h, c) = model(obs, prev_action, prev_reward, model.initial_state(B))
    assert params.shape == (T, B, num_params) and value.shape == (T, B) and h.shape == (B, 8)
    # ActorCritic's policy init: near-uniform logits, or a Gaussian with log std -0.5.
    if dist is Categorical:
        assert params.abs().max() < 0.1
    else:
        torch.testing.assert_close(params[..., 2:], torch.full((T, B, 2), -0.5), atol=0.05, rtol=0)
    step_params, step_state = model.policy_step(obs[0], prev_action[0], prev_reward[0], model.initial_state(B))
    torch.testing.assert_close(step_params, params[0])
    assert step_state[0].shape == (B, 8)


def test_stack_frames_matches_plain_indexing():
    N, S, L, H, W = 3, 4, 5, 2, 3
    frames = torch.randint(0, 256, (N, S - 1 + L, H, W), dtype=torch.uint8)
    got = stack_frames(frames, S)
    want = np.zeros((N, L, S, H, W), np.uint8)
    for i in range(N):
        for t in range(L):
            for k in range(S):
                want[i, t, k] = frames[i, t + k].numpy()
    assert got.shape == (N, L, S, H, W) and got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(stack_frames(frames, 1).numpy(), frames.unsqueeze(2).numpy())


@pytest.mark.parametrize("shape, stack", [((2, 3, 4, 4), 4), ((2, 5, 4), 2), ((2, 5, 4, 4), 0)])
def test_stack_frames_rejects_bad_input_in_one_line(shape, stack):
    with pytest.raises(RayrlError, match="stack_frames") as info:
        stack_frames(torch.zeros(shape), stack)
    assert "\n" not in str(info.value)


def test_q_network_needs_discrete_actions():
    with pytest.raises(RayrlError, match="Discrete action space"):
        RecurrentQNetwork(VECTOR, Box(-1, 1, (2,), np.float32), (8,), dueling=False, lstm_size=4)
