"""MiniGrid through make_env: its one-hot view as a flat Box, found lazily; its scripted expert; the one-line errors."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rayrl.envs import make_env, make_vector_env
from rayrl.envs.experts import minigrid_expert
from rayrl.errors import RayrlError
from rayrl.models.spaces import check_observation_space

TASK = "MiniGrid-KeyCorridorS3R3-v0"


def play(env: gym.Env, act) -> dict:
    """One episode from a reset; the info of its last step."""
    obs, _ = env.reset()
    while True:
        obs, _, terminated, truncated, info = env.step(act(obs))
        if terminated or truncated:
            return info


def test_the_observation_is_the_one_hot_egocentric_view_flattened():
    env = make_env(TASK, seed=4)
    assert check_observation_space(env.observation_space) == (980,) and env.action_space == gym.spaces.Discrete(7)
    raw = gym.make(TASK)  # the Dict observation minigrid gives, from the same seed
    obs, raw_obs = env.reset(seed=9)[0], raw.reset(seed=9)[0]
    for action in [2, 0, 2, 2, 1, 5, 2, 3]:
        view = obs.reshape(7, 7, 20)
        assert obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1} and (view.sum(-1) == 3).all()
        decoded = np.stack([view[..., :11].argmax(-1), view[..., 11:17].argmax(-1), view[..., 17:].argmax(-1)], -1)
        np.testing.assert_array_equal(decoded, raw_obs["image"])  # (object type, colour, state) of each cell
        obs, raw_obs = env.step(action)[0], raw.step(action)[0]


def test_minigrid_ids_go_through_make_vector_env():
    vector = make_vector_env("MiniGrid-DoorKey-8x8-v0", 2, seed=0)
    assert vector.reset(seed=0).shape == (2, 980)
    step = vector.step(np.array([2, 1]))
    assert step.obs.shape == (2, 980) and step.obs.dtype == np.uint8


@pytest.mark.parametrize("env_id", [TASK, "MiniGrid-DoorKey-8x8-v0"])
def test_the_expert_succeeds_and_the_episode_return_shows_it(env_id):
    env = make_env(env_id, seed=1, training=False)
    act = minigrid_expert(env)
    infos = [play(env, act) for _ in range(20)]
    successes = [info["episode"]["r"] > 0 for info in infos]
    assert np.mean(successes) >= 0.95
    assert all(info["episode"]["l"] < 60 for info in infos)  # it plans short paths, far from the time limit


def test_a_random_policy_does_not_find_the_ball():
    env = make_env(TASK, seed=2)
    infos = [play(env, lambda obs: env.action_space.sample()) for _ in range(20)]
    assert all(info["episode"]["r"] == 0 and info["episode"]["l"] == 270 for info in infos)  # truncated each time


def test_unknown_minigrid_ids_and_other_envs_are_one_line_errors():
    with pytest.raises(RayrlError) as error:
        make_env("MiniGrid-DoorKey-8x8-v9")
    assert str(error.value) == (
        "unknown env id 'MiniGrid-DoorKey-8x8-v9'; did you mean 'MiniGrid-DoorKey-8x8-v0'? "
        "(any gymnasium id or 'package.module:ClassName')"
    )
    with pytest.raises(RayrlError, match=r"^minigrid_expert plays MiniGrid envs, not 'CartPole-v1'$"):
        minigrid_expert(make_env("CartPole-v1"))
    env = make_env("MiniGrid-GoToDoor-5x5-v0", seed=0)  # a door to reach: a task the expert has no aim for
    with pytest.raises(RayrlError, match=r"^minigrid_expert plays tasks with a goal square .* has neither$"):
        minigrid_expert(env)(env.reset()[0])


def test_only_the_ids_made_import_minigrid_and_rayrls_own_envs():
    check = (
        "import sys; from rayrl.envs import make_env; make_env('CartPole-v1'); "
        "assert not {'minigrid', 'ale_py', 'rayrl.envs.deep_sea', 'rayrl.envs.masked_cartpole'} & set(sys.modules); "
        f"make_env('{TASK}'); assert 'minigrid' in sys.modules and 'ale_py' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", check], check=True, cwd=Path(__file__).parents[2])
