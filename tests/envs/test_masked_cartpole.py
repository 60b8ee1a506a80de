"""Masked CartPole: CartPole-v1 under the same seed and actions, less the two velocities; its 500-step time limit."""

import gymnasium as gym
import numpy as np

from rayrl.envs import make_env


def balance(state) -> int:
    """A controller on CartPole's full state that keeps the pole up for 500 steps."""
    x, x_dot, theta, theta_dot = state
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)


def test_it_is_cartpole_without_the_velocities():
    masked, full = make_env("rayrl/MaskedCartPole-v1", seed=3), make_env("CartPole-v1", seed=3)
    assert masked.observation_space == gym.spaces.Box(
        full.observation_space.low[[0, 2]], full.observation_space.high[[0, 2]], dtype=np.float32
    )
    rng = np.random.default_rng(0)
    for _ in range(5):
        masked_obs, full_obs = masked.reset()[0], full.reset()[0]
        np.testing.assert_array_equal(masked_obs, full_obs[[0, 2]])
        while True:
            action = int(rng.integers(2))
            masked_obs, *masked_step = masked.step(action)
            full_obs, *full_step = full.step(action)
            assert masked_obs.shape == (2,) and masked_obs.dtype == np.float32
            np.testing.assert_array_equal(masked_obs, full_obs[[0, 2]])
            assert masked_step[:3] == full_step[:3]  # reward, terminated, truncated
            if masked_step[1] or masked_step[2]:
                break


def test_its_time_limit_is_cartpole_v1s_500_steps():
    env = gym.make("rayrl/MaskedCartPole-v1")  # registered by importing rayrl.envs
    assert env.spec.max_episode_steps == 500 and env.spec.reward_threshold == 475.0
    env = make_env("rayrl/MaskedCartPole-v1", seed=0)
    env.reset()
    for step in range(1, 501):
        _, _, terminated, truncated, info = env.step(balance(env.unwrapped.state))
        assert not terminated and truncated == (step == 500)
    assert (info["episode"]["r"], info["episode"]["l"]) == (500.0, 500)


def test_cartpole_frames_draw_with_pygame_ce(monkeypatch):
    # As rayrl evaluate --video sets them: no greeting, no complaints about a missing sound card or display.
    for name in ("SDL_AUDIODRIVER", "SDL_VIDEODRIVER"):
        monkeypatch.setenv(name, "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    assert pygame.IS_CE  # minigrid's pygame-ce, the one pyproject lists, owns the module
    for env_id in ("CartPole-v1", "rayrl/MaskedCartPole-v1"):
        env = make_env(env_id, seed=0, render_mode="rgb_array")
        frame = env.render()
        assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8 and frame.min() < frame.max()
        env.close()
