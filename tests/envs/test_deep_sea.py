"""Deep sea against bsuite's dynamics written out plainly; its mapping per seed; its expert; a random policy's luck."""

import gymnasium as gym
import numpy as np
import pytest

from rayrl.envs import make_env, make_vector_env
from rayrl.envs.deep_sea import DeepSeaEnv
from rayrl.envs.experts import deep_sea_expert
from rayrl.errors import RayrlError


def ground_truth(size: int, mapping: np.ndarray, actions) -> list[tuple[int, int, float, bool]]:
    """(row, column, reward, terminated) after each action, as bsuite's deep sea defines them."""
    row, column, steps = 0, 0, []
    for action in actions:
        right = action == mapping[row, column]
        reward = 0.0
        if right and column == size - 1:
            reward = reward + 1.0
        if right:
            reward = reward - 0.01 / size
            column = column + 1 if column < size - 1 else column
        else:
            column = column - 1 if column > 0 else column
        row = row + 1
        steps.append((row, column, reward, row == size))
    return steps


def play(env: gym.Env, act) -> float:
    obs, _ = env.reset()
    while True:
        obs, _, terminated, truncated, info = env.step(act(obs))
        if terminated or truncated:
            return info["episode"]["r"]


@pytest.mark.parametrize("size, mapping_seed", [(1, 0), (4, 3), (10, 0), (10, 7)])
def test_steps_follow_bsuites_dynamics(size, mapping_seed):
    env = DeepSeaEnv(size=size, mapping_seed=mapping_seed)
    rng = np.random.default_rng(size + mapping_seed)
    for _ in range(30):
        obs, _ = env.reset()
        assert obs.shape == (size, size) and obs.dtype == np.float32 and obs[0, 0] == 1 and obs.sum() == 1
        actions = rng.integers(0, 2, size)
        for action, (row, column, reward, terminated) in zip(actions, ground_truth(size, env.action_mapping, actions)):
            obs, got_reward, got_terminated, truncated, _ = env.step(action)
            assert got_reward == pytest.approx(reward) and got_terminated == terminated and not truncated
            expected = np.zeros((size, size), np.float32)
            if row < size:
                expected[row, column] = 1
            np.testing.assert_array_equal(obs, expected)
        assert got_terminated  # after exactly N steps


def test_the_mapping_is_bsuites_draw_fixed_by_the_mapping_seed_not_the_reset_seed():
    np.testing.assert_array_equal(
        DeepSeaEnv(size=10, mapping_seed=5).action_mapping, np.random.RandomState(5).binomial(1, 0.5, [10, 10])
    )
    assert not np.array_equal(DeepSeaEnv(mapping_seed=5).action_mapping, DeepSeaEnv(mapping_seed=6).action_mapping)
    mapping = DeepSeaEnv().action_mapping
    assert 0 < mapping.sum() < mapping.size  # neither action moves right everywhere
    # A run's envs are seeded seed + i: they must all still be one MDP.
    vector = make_vector_env("rayrl/DeepSea-v0", 3, seed=11)
    for env in vector.envs:
        np.testing.assert_array_equal(env.unwrapped.action_mapping, mapping)


@pytest.mark.parametrize("size", [1, 2, 10, 30])
def test_the_expert_always_reaches_the_bottom_right(size):
    env = make_env("rayrl/DeepSea-v0", seed=0, training=False, env_kwargs={"size": size, "mapping_seed": size})
    act = deep_sea_expert(env)
    for _ in range(3):
        assert play(env, act) == pytest.approx(0.99)


def test_a_random_policy_almost_never_reaches_it_at_size_10():
    env = make_env("rayrl/DeepSea-v0", seed=0)
    returns = np.array([play(env, lambda obs: env.action_space.sample()) for _ in range(2000)])
    assert np.mean(returns > 0) < 0.005  # 1 in 2^10 in expectation
    assert returns.max() <= 0.99 and returns.min() >= -0.01


def test_it_is_a_registered_gymnasium_id_with_size_and_renders_frames():
    env = gym.make("rayrl/DeepSea-v0", size=6, render_mode="rgb_array")
    assert env.spec.max_episode_steps is None and env.observation_space.shape == (6, 6)
    env.reset()
    frame = env.render()
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8 and (frame[:16, :16] == 255).all()


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(RayrlError, match=r"^deep sea size must be at least 1, got 0"):
        make_env("rayrl/DeepSea-v0", env_kwargs={"size": 0})
    with pytest.raises(RayrlError, match=r"^deep_sea_expert plays rayrl/DeepSea-v0, not 'CartPole-v1'$"):
        deep_sea_expert(make_env("CartPole-v1"))
    env = DeepSeaEnv(size=2)
    env.reset()
    env.step(0), env.step(0)
    with pytest.raises(RayrlError, match="stepped after its episode terminated"):
        env.step(0)
