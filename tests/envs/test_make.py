"""make_env: gymnasium ids, "module:Class" user envs, episode statistics, seeding and the one-line errors."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rayrl.envs import make_env
from rayrl.errors import RayrlError

DUMMY = "tests.envs.dummy_env:CountdownEnv"


def run_episode(env: gym.Env, policy) -> tuple[float, int, dict]:
    """Steps `env` from a reset until its episode ends; returns the summed reward, the step count and the last info."""
    env.reset()
    total, steps = 0.0, 0
    while True:
        _, reward, terminated, truncated, info = env.step(policy())
        total, steps = total + float(reward), steps + 1
        if terminated or truncated:
            return total, steps, info


def test_cartpole_reports_its_episode_return_and_length():
    env = make_env("CartPole-v1", seed=0)
    assert env.observation_space.shape == (4,) and env.observation_space.dtype == np.float32
    total, steps, info = run_episode(env, env.action_space.sample)
    assert info["episode"]["r"] == pytest.approx(total) and info["episode"]["l"] == steps


def test_pendulum_takes_box_actions_and_truncates_at_its_time_limit():
    env = make_env("Pendulum-v1", seed=0)
    total, steps, info = run_episode(env, env.action_space.sample)
    assert steps == 200
    assert info["episode"]["r"] == pytest.approx(total, rel=1e-5) and info["episode"]["l"] == 200


def test_env_kwargs_reach_a_gymnasium_env():
    env = make_env("Pendulum-v1", env_kwargs={"max_episode_steps": 7})
    assert run_episode(env, env.action_space.sample)[1] == 7


def test_user_class_is_imported_and_built_with_env_kwargs():
    env = make_env(DUMMY, env_kwargs={"episode_length": 5})
    total, steps, info = run_episode(env, lambda: 2)
    assert (steps, total) == (5, 10.0)
    assert (info["episode"]["r"], info["episode"]["l"]) == (10.0, 5)


def test_seed_makes_an_env_reproducible():
    def trajectory(seed: int) -> np.ndarray:
        env = make_env("CartPole-v1", seed=seed)
        observations = [env.reset()[0]]
        for _ in range(20):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            observations.append(obs if not (terminated or truncated) else env.reset()[0])
        return np.stack(observations)

    np.testing.assert_array_equal(trajectory(3), trajectory(3))
    assert not np.array_equal(trajectory(3), trajectory(4))


@pytest.mark.parametrize(
    "env_id, message",
    [
        (
            "CartPole-v9",
            "unknown env id 'CartPole-v9'; did you mean 'CartPole-v1'? "
            "(any gymnasium id or 'package.module:ClassName')",
        ),
        ("ALE/Pongg-v5", "unknown env id 'ALE/Pongg-v5'; did you mean 'ALE/Pong-v5'?"),
        ("NoSuchThing", "unknown env id 'NoSuchThing' (any gymnasium id or 'package.module:ClassName')"),
        ("no_such_module.envs:MyEnv", "cannot import module 'no_such_module.envs' of env 'no_such_module.envs:MyEnv'"),
        (
            "tests.envs.dummy_env:CountDownEnv",
            "module 'tests.envs.dummy_env' has no gymnasium.Env class 'CountDownEnv'; "
            "did you mean 'tests.envs.dummy_env:CountdownEnv'?",
        ),
        ("tests.envs.dummy_env:np", "module 'tests.envs.dummy_env' has no gymnasium.Env class 'np'"),
        (":CountdownEnv", "bad env id ':CountdownEnv'"),
    ],
)
def test_bad_ids_raise_one_line_errors_that_name_the_id_and_the_fix(env_id, message):
    with pytest.raises(RayrlError) as error:
        make_env(env_id)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_missing_dependency_is_a_one_line_error(monkeypatch):
    def make_without_box2d(*args, **kwargs):
        raise gym.error.DependencyNotInstalled('Box2D is not installed, run `pip install "gymnasium[box2d]"`')

    monkeypatch.setattr(gym, "make", make_without_box2d)
    with pytest.raises(RayrlError, match=r"^env 'LunarLander-v3' needs a package that is not installed: Box2D"):
        make_env("LunarLander-v3")


def test_making_a_non_atari_env_does_not_import_ale_py():
    check = "import sys; from rayrl.envs import make_env; make_env('CartPole-v1'); assert 'ale_py' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True, cwd=Path(__file__).parents[2])
