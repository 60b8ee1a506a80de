"""VectorEnv: same-step autoreset, episode statistics, fresh output arrays, seeding."""

import functools

import numpy as np
import pytest

from rayrl.envs import VectorEnv, make_env, make_vector_env

DUMMY = "tests.envs.dummy_env:CountdownEnv"


def countdown_envs(*episode_lengths: int, **env_kwargs) -> VectorEnv:
    return VectorEnv(
        [
            functools.partial(make_env, DUMMY, env_kwargs={"episode_length": length, **env_kwargs})
            for length in episode_lengths
        ]
    )


def test_an_ended_episode_returns_the_next_episodes_first_observation():
    envs = countdown_envs(3, 2)
    np.testing.assert_array_equal(envs.reset(), [[0, 1], [0, 1]])  # [steps in episode, episodes started]
    expected_obs = [[[1, 1], [1, 1]], [[2, 1], [0, 2]], [[0, 2], [1, 2]], [[1, 2], [0, 3]]]
    expected_terminated = [[False, False], [False, True], [True, False], [False, True]]
    for step, (obs_t, terminated_t) in enumerate(zip(expected_obs, expected_terminated)):
        obs, rewards, terminated, truncated, final_obs = envs.step(np.array([step, 10 + step]) % 10)
        np.testing.assert_array_equal(obs, obs_t)
        np.testing.assert_array_equal(terminated, terminated_t)
        np.testing.assert_array_equal(rewards, np.array([step, 10 + step]) % 10)
        assert not truncated.any() and final_obs == {}  # a terminated episode's final observation is dropped


def test_episode_stats_are_collected_in_order_and_drained():
    envs = countdown_envs(3, 2)
    envs.reset()
    for step in range(4):
        envs.step(np.array([1, step]))
    # env 1 ends at steps 1 (0 + 1) and 3 (2 + 3); env 0 at step 2 (1 + 1 + 1).
    returns, lengths = envs.pop_episode_stats()
    np.testing.assert_array_equal(returns, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(lengths, [2, 3, 2])
    assert returns.dtype == np.float64 and lengths.dtype == np.int64
    assert [len(stats) for stats in envs.pop_episode_stats()] == [0, 0]


def test_truncated_episodes_are_reset_and_counted_too():
    envs = countdown_envs(2, ends_by_truncation=True)
    envs.reset()
    envs.step(np.array([4]))
    obs, _, terminated, truncated, _ = envs.step(np.array([4]))
    np.testing.assert_array_equal(obs, [[0, 2]])
    assert truncated.tolist() == [True] and terminated.tolist() == [False]
    np.testing.assert_array_equal(envs.pop_episode_stats()[0], [8.0])


def test_a_time_limit_hands_out_the_final_observation_beside_the_next_episodes_first():
    envs = VectorEnv([functools.partial(make_env, DUMMY, env_kwargs={"episode_length": 2, "ends_by_truncation": True}),
                      functools.partial(make_env, DUMMY, env_kwargs={"episode_length": 3})])
    envs.reset()
    assert envs.step(np.array([0, 0])).final_obs == {}
    step = envs.step(np.array([0, 0]))
    np.testing.assert_array_equal(step.obs, [[0, 2], [2, 1]])  # env 0 already starts its second episode
    assert list(step.final_obs) == [0]
    np.testing.assert_array_equal(step.final_obs[0], [2, 1])  # [steps taken, episode]: the cut state
    assert step.final_obs[0].dtype == np.float32
    assert envs.step(np.array([0, 0])).final_obs == {}  # env 1 terminates: no final observation


def test_outputs_have_the_documented_dtypes_and_are_not_overwritten_later():
    envs = make_vector_env("CartPole-v1", 4, seed=0)
    assert envs.num_envs == 4 and envs.single_observation_space.shape == (4,) and envs.single_action_space.n == 2
    kept = (envs.reset(), *envs.step(np.zeros(4, np.int64))[:4])
    kept_copies = [array.copy() for array in kept]
    envs.step(np.ones(4, np.int64))
    envs.reset()
    for array, copy in zip(kept, kept_copies):
        np.testing.assert_array_equal(array, copy)
    _, obs, rewards, terminated, truncated = kept
    assert obs.shape == (4, 4) and obs.dtype == np.float32
    assert rewards.shape == (4,) and rewards.dtype == np.float32
    assert terminated.dtype == truncated.dtype == np.bool_


def test_box_actions_are_passed_row_by_row():
    envs = make_vector_env("Pendulum-v1", 2, seed=0)
    envs.reset()
    obs, rewards, _, _, _ = envs.step(np.array([[2.0], [-2.0]], np.float32))
    assert obs.shape == (2, 3) and rewards.shape == (2,)


def test_env_i_is_seeded_with_seed_plus_i_and_runs_are_reproducible():
    def rollout(seed: int) -> np.ndarray:
        envs = make_vector_env("CartPole-v1", 3, seed=seed)
        observations = [envs.reset()]
        actions = np.random.default_rng(0).integers(0, 2, size=(30, 3))
        observations += [envs.step(action)[0] for action in actions]
        return np.stack(observations)

    run = rollout(seed=10)
    np.testing.assert_array_equal(run, rollout(seed=10))
    np.testing.assert_array_equal(run[0, 1:], rollout(seed=11)[0, :2])  # env 1 of seed 10 is env 0 of seed 11
    assert not np.array_equal(run[0, 0], run[0, 1])


def test_envs_with_different_observation_shapes_are_rejected():
    with pytest.raises(ValueError, match="one shape and dtype"):
        VectorEnv(
            [
                functools.partial(make_env, DUMMY),
                functools.partial(make_env, DUMMY, env_kwargs={"obs_size": 3}),
            ]
        )
