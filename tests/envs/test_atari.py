"""Atari preprocessing: observation format, reward clipping, life loss, episode statistics, time limit, seeding,
and which envs observe frame stacks that replay can store frame by frame."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from rayrl.envs import AtariOptions, frame_stack_depth, make_env, make_vector_env
from rayrl.envs.atari import FireResetEnv


def random_actions(env, seed: int = 0):
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(env.action_space.n))


def wrappers_of(env) -> list[type]:
    types = []
    while env is not env.unwrapped:
        types.append(type(env))
        env = env.env
    return types


def test_observations_are_four_stacked_84x84_uint8_frames():
    env = make_env("ALE/Pong-v5", seed=0)
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    for obs in (env.reset()[0], env.step(0)[0]):
        assert isinstance(obs, np.ndarray) and obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert obs.flags.c_contiguous
    envs = make_vector_env("ALE/Pong-v5", 2, seed=0)
    assert envs.reset().shape == (2, 4, 84, 84) and envs.step(np.array([0, 1]))[0].dtype == np.uint8


def test_frames_are_the_standard_frame_skip_and_sticky_actions_follow_the_env_id():
    env = make_env("ALE/Pong-v5", seed=0, atari=AtariOptions(noop_max=0, fire_reset=False))
    ale = env.unwrapped.ale
    env.reset()
    frames_at_reset = ale.getEpisodeFrameNumber()
    env.step(0)
    assert ale.getEpisodeFrameNumber() - frames_at_reset == 4
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    overridden = make_env("ALE/Pong-v5", env_kwargs={"repeat_action_probability": 0.0})
    assert overridden.unwrapped.ale.getFloat("repeat_action_probability") == 0.0


def play_one_game(env) -> tuple[list[float], int, dict]:
    """Plays random actions until a whole game ends; returns the rewards seen, the episode count and the last info."""
    env.reset()
    rewards, episodes = [], 0
    for action in random_actions(env):
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        if terminated or truncated:
            episodes += 1
            if "episode" in info:
                return rewards, episodes, info
            env.reset()


# SpaceInvaders pays 5 to 30 points per invader, so clipping shows; it has 3 lives, so a game spans episodes.


def test_training_clips_rewards_but_its_stats_report_the_whole_unclipped_game():
    rewards, episodes, info = play_one_game(make_env("ALE/SpaceInvaders-v5", seed=0, training=True))
    assert set(rewards) <= {0.0, 1.0} and episodes > 1
    assert info["episode"]["r"] > sum(rewards) and info["episode"]["r"] % 5 == 0


def test_evaluation_sees_real_rewards_and_whole_games():
    rewards, episodes, info = play_one_game(make_env("ALE/SpaceInvaders-v5", seed=0, training=False))
    assert max(rewards) > 1.0 and episodes == 1
    assert info["episode"]["r"] == sum(rewards)
    assert info["episode"]["l"] == len(rewards) + 2  # FireResetEnv's two steps after the reset count too


def test_a_lost_life_ends_a_training_episode_but_not_the_game():
    env = make_env("ALE/Breakout-v5", seed=0, training=True)
    ale = env.unwrapped.ale
    env.reset()
    assert ale.lives() == 5
    for action in random_actions(env):
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert terminated and ale.lives() == 4 and not ale.game_over() and "episode" not in info
    frames_before_reset = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == 4 and ale.getEpisodeFrameNumber() > frames_before_reset  # the same game goes on


def test_evaluation_episodes_go_on_after_a_lost_life():
    env = make_env("ALE/Breakout-v5", seed=0, training=False)
    ale = env.unwrapped.ale
    env.reset()
    for action in random_actions(env):
        _, _, terminated, truncated, _ = env.step(action)
        if ale.lives() < 5:
            break
    assert ale.lives() == 4 and not terminated and not truncated


def test_games_are_truncated_after_max_episode_frames():
    options = AtariOptions(noop_max=0, fire_reset=False, max_episode_frames=400)
    env = make_env("ALE/Pong-v5", seed=0, training=False, atari=options)
    env.reset()
    for step in range(1, 1000):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert truncated and not terminated and step == info["episode"]["l"] == 100  # 400 frames / frame skip 4


def test_fire_reset_only_wraps_games_that_need_fire():
    assert FireResetEnv in wrappers_of(make_env("ALE/Breakout-v5"))
    assert FireResetEnv not in wrappers_of(make_env("ALE/Freeway-v5"))  # actions: NOOP, UP, DOWN
    assert FireResetEnv not in wrappers_of(make_env("ALE/Breakout-v5", atari=AtariOptions(fire_reset=False)))


def test_seeded_atari_runs_are_reproducible():
    def frames(seed: int) -> np.ndarray:
        env = make_env("ALE/Breakout-v5", seed=seed)
        return np.stack([env.step(action)[0] for action, _ in zip(random_actions(env), range(40))])

    np.testing.assert_array_equal(frames(1), frames(1))


def test_options_are_checked():
    with pytest.raises(ValueError, match="stack"):
        AtariOptions(stack=0)


def test_frame_stack_depth_finds_only_reset_padded_stacks_of_uint8_frames():
    assert frame_stack_depth(make_env("ALE/Pong-v5")) == 4
    assert frame_stack_depth(make_env("ALE/Pong-v5", training=False, atari=AtariOptions(stack=2))) == 2
    assert frame_stack_depth(make_env("tests.envs.dummy_env:StackedFramesEnv")) == 4  # under RecordEpisodeStatistics
    assert frame_stack_depth(make_env("CartPole-v1")) is None
    assert frame_stack_depth(FrameStackObservation(gym.make("CartPole-v1"), 4)) is None  # [4, 4] float32, no frames
    zero_padded = make_env("tests.envs.dummy_env:StackedFramesEnv", env_kwargs={"padding_type": "zero"})
    assert frame_stack_depth(zero_padded) is None  # its first stacks hold frames no step showed
