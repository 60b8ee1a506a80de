"""Demonstrations as Minari datasets: recorded episodes load back as a plain re-run of the same seeds and policy
gives them, ``rayrl record-demos`` with a policy or a checkpoint, and one-line errors for bad input and bad data."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import pytest

from rayrl.cli import main
from rayrl.demos import load_demos, record_demos
from rayrl.envs import make_env
from rayrl.errors import RayrlError

CARTPOLE = gym.make("CartPole-v1")
SPACES = {"observation_space": CARTPOLE.observation_space, "action_space": CARTPOLE.action_space}
SUMMARY = re.compile(r"^rayrl: recorded (?P<episodes>\d+) episodes, (?P<steps>[\d,]+) steps, mean return "
                     r"(?P<mean>[\d.]+) on (?P<env>\S+) into Minari dataset (?P<where>.+) \([\d.]+s\)$")

RAY_WORKER_LOG = re.compile(r"^(\x1b\[\d+m)?\(\w+ pid=\d+")


def cartpole_expert(env):
    """Pushes the cart toward where the pole falls: CartPole's classic heuristic, 500 steps most episodes."""
    assert type(env.unwrapped).__name__ == "CartPoleEnv"  # the factory gets the env itself
    return lambda obs: int(obs[2] + 0.5 * obs[3] > 0)


def always_left(env):
    return lambda obs: 0


def raises_at_step_3(env):
    steps = iter(range(10))
    return lambda obs: 0 if next(steps) < 3 else 1 / 0


def out_of_space(env):
    return lambda obs: 2


class NoiseImageEnv(gym.Env):
    """Observations are 32 x 32 RGB noise (what JPEG would blur); episodes last 4 steps."""

    observation_space = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (32, 32, 3), dtype=np.uint8), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        return obs, float(action) - 0.5, self.t == 4, False, {}


def plain_rerun(env: str, make_act, *, episodes: int, seed: int, env_kwargs=None) -> list[dict[str, np.ndarray]]:
    """The episodes written out by hand: reset with seed + i, step until the episode ends."""
    environment = make_env(env, env_kwargs=env_kwargs, training=False)
    act, demos = make_act(environment), []
    for i in range(episodes):
        obs, _ = environment.reset(seed=seed + i)
        demo = {"obs": [obs], "action": [], "reward": [], "terminated": [], "truncated": []}
        done = False
        while not done:
            action = act(obs)
            obs, reward, terminated, truncated, _ = environment.step(action)
            for key, value in zip(demo, (obs, action, reward, terminated, truncated)):
                demo[key].append(value)
            done = terminated or truncated
        demos.append(demo)
    return demos


def assert_same_episodes(loaded, expected, observation_dtype) -> None:
    assert len(loaded) == len(expected)
    for demo, truth in zip(loaded, expected):
        assert set(demo) == {"obs", "action", "reward", "terminated", "truncated"}
        steps = len(truth["action"])
        assert demo["obs"].shape[0] == steps + 1 and demo["obs"].dtype == observation_dtype
        assert demo["action"].dtype == np.int64 and demo["reward"].dtype == np.float32
        assert demo["terminated"].dtype == demo["truncated"].dtype == bool
        np.testing.assert_array_equal(demo["obs"], np.stack(truth["obs"]))
        for key, dtype in (("action", np.int64), ("reward", np.float32), ("terminated", bool), ("truncated", bool)):
            np.testing.assert_array_equal(demo[key], np.asarray(truth[key], dtype), err_msg=key)


@pytest.fixture(autouse=True)
def datasets_path(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    return tmp_path / "datasets"


def rayrl(*args: str) -> tuple[int, str, str]:
    """``rayrl ARGS`` in this process: exit code, stdout, stderr (argparse's errors exit through SystemExit)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as done:
            code = done.code
    # Ray's log monitor may echo into the redirected streams what the workers of an earlier test's Ray session print.
    out, err = ("".join(line for line in stream.getvalue().splitlines(True) if not RAY_WORKER_LOG.match(line))
                for stream in (out, err))
    return code, out, err


@pytest.mark.parametrize("make_act, env_kwargs, ends", [(cartpole_expert, {"max_episode_steps": 60}, "truncated"),
                                                         (always_left, None, "terminated")])
def test_recorded_episodes_load_back_as_a_plain_rerun_of_the_seeds_gives_them(make_act, env_kwargs, ends,
                                                                              datasets_path):
    summary = record_demos("rayrl/cartpole-v0", episodes=3, env="CartPole-v1", policy=make_act, seed=7,
                           env_kwargs=env_kwargs)
    expected = plain_rerun("CartPole-v1", make_act, episodes=3, seed=7, env_kwargs=env_kwargs)
    loaded = load_demos("rayrl/cartpole-v0", **SPACES)
    assert_same_episodes(loaded, expected, np.float32)
    assert all(demo[ends][-1] for demo in loaded)
    lengths = [len(demo["action"]) for demo in expected]
    assert summary["steps"] == sum(lengths) and summary["return_mean"] == pytest.approx(np.mean(lengths))
    assert summary["path"] == str(datasets_path / "rayrl" / "cartpole-v0")
    import minari  # Minari's own reader sees the same dataset

    dataset = minari.load_dataset("rayrl/cartpole-v0")
    assert dataset.total_episodes == 3 and dataset.total_steps == sum(lengths)
    assert "rayrl/cartpole-v0" in minari.list_local_datasets()


def test_image_observations_are_stored_without_loss(tmp_path):
    env = "tests.test_demos:NoiseImageEnv"
    record_demos(tmp_path / "noise", episodes=2, env=env, policy=lambda e: lambda obs: 1, seed=3)
    loaded = load_demos(tmp_path / "noise", observation_space=NoiseImageEnv.observation_space,
                        action_space=NoiseImageEnv.action_space)
    assert_same_episodes(loaded, plain_rerun(env, lambda e: lambda obs: 1, episodes=2, seed=3), np.uint8)


def test_rayrl_record_demos_with_a_policy_prints_one_summary_line(tmp_path, datasets_path):
    code, out, err = rayrl("record-demos", "--env", "CartPole-v1", "--policy", "tests.test_demos:cartpole_expert",
                           "--episodes", "3", "--out", "rayrl/cartpole-expert-v0", "--seed", "1",
                           "--env-kwargs", "{max_episode_steps: 40}")
    assert code == 0 and not err, err
    summary = SUMMARY.match(out.strip())
    assert summary and out.count("\n") == 1, out
    assert summary["episodes"] == "3" and summary["steps"] == "120" and float(summary["mean"]) == 40.0
    assert summary["where"] == f"'rayrl/cartpole-expert-v0' at {datasets_path / 'rayrl' / 'cartpole-expert-v0'}"
    expected = plain_rerun("CartPole-v1", cartpole_expert, episodes=3, seed=1, env_kwargs={"max_episode_steps": 40})
    assert_same_episodes(load_demos("rayrl/cartpole-expert-v0", **SPACES), expected, np.float32)
    # A path instead of an id: the same layout, anywhere.
    code, out, _ = rayrl("record-demos", "--env", "CartPole-v1", "--policy", "tests.test_demos:always_left",
                         "--episodes", "1", "--out", str(tmp_path / "left"))
    assert code == 0 and SUMMARY.match(out.strip())["where"] == str(tmp_path / "left")
    assert (tmp_path / "left" / "data" / "metadata.json").is_file()
    assert len(load_demos(str(tmp_path / "left"), **SPACES)) == 1


def test_rayrl_record_demos_with_a_checkpoint_acts_greedily_in_its_training_env(tmp_path):
    from rayrl.algorithms import registry
    from rayrl.checkpoint import save_state
    from rayrl.config import build_config
    from rayrl.policy import make_policy

    config = build_config(registry.get("dqn").config_cls, {"env": "CartPole-v1"})
    policy = make_policy("dqn", config, seed=0)  # an untrained network: what matters is that it is the one acting
    save_state({"algo": "dqn", "config": config.to_dict(), "plan": {"learner": {"model": policy.model.state_dict()}}},
               tmp_path / "run" / "checkpoint_000000")
    code, out, err = rayrl("record-demos", "--checkpoint", str(tmp_path / "run"), "--episodes", "2", "--out",
                           str(tmp_path / "dqn"))
    assert code == 0 and SUMMARY.match(out.strip())["env"] == "CartPole-v1", out + err
    expected = plain_rerun("CartPole-v1", lambda env: policy.act, episodes=2, seed=0)
    loaded = load_demos(tmp_path / "dqn", **SPACES)
    assert_same_episodes(loaded, expected, np.float32)
    for demo in loaded:
        np.testing.assert_array_equal(demo["action"], policy.act(demo["obs"][:-1]))  # greedy, batch or one by one
    code, _, err = rayrl("record-demos", "--checkpoint", str(tmp_path / "run"), "--env", "Acrobot-v1",
                         "--episodes", "1", "--out", "acrobot-v0")
    assert code == 2 and err.count("\n") == 1 and "other spaces" in err, err


def test_a_recurrent_checkpoint_records_with_its_memory_running_through_each_episode(tmp_path):
    from rayrl.algorithms import registry
    from rayrl.checkpoint import save_state
    from rayrl.config import build_config
    from rayrl.policy import make_policy

    config = build_config(registry.get("r2d2").config_cls, {"env": "CartPole-v1", "hidden_sizes": [16],
                                                              "lstm_size": 16, "dueling": False})
    policy = make_policy("r2d2", config, seed=1)
    with torch.no_grad():  # a network that counts rewards: action 0 until its memory holds 5 of them, then 1
        lstm, head, size = policy.model.core.lstm, policy.model.head, config.lstm_size
        for param in [*lstm.parameters(), *head.parameters()]:
            param.zero_()
        lstm.bias_ih_l0[:size].fill_(20.0)  # input gate open (PyTorch's gate order: input, forget, cell, output)
        lstm.bias_ih_l0[size:2 * size].fill_(20.0)  # forget gate open: the cell keeps its count
        lstm.bias_ih_l0[3 * size:].fill_(20.0)  # output gate open
        lstm.weight_ih_l0[2 * size, -1] = 0.2  # cell unit 0 grows by tanh(0.2 tanh(r)) = 0.151 for each reward 1
        head.weight[1, 0], head.bias[1] = 1.0, -0.6  # q(1) > q(0) = 0 once tanh(cell) > 0.6: after 5 rewards
    online = {f"online.{name}": value for name, value in policy.model.state_dict().items()}
    save_state({"algo": "r2d2", "config": config.to_dict(), "plan": {"learner": {"model": online}}},
               tmp_path / "run" / "checkpoint_000000")
    record_demos(tmp_path / "r2d2", episodes=2, checkpoint=tmp_path / "run")
    for demo in load_demos(tmp_path / "r2d2", **SPACES):
        policy.reset()  # replay the episode through the network: each action from the state of all before it
        rewards = np.concatenate([[0.0], demo["reward"][:-1]])
        actions = [policy.act(obs, prev_reward=reward) for obs, reward in zip(demo["obs"][:-1], rewards)]
        np.testing.assert_array_equal(demo["action"], actions)
        assert list(demo["action"][:6]) == [0, 0, 0, 0, 0, 1]  # from a zero state at each episode's start


@pytest.mark.parametrize("args, needles", [
    (["--env", "CartPole-v9", "--policy", "tests.test_demos:always_left"], ["unknown env id 'CartPole-v9'"]),
    (["--env", "CartPole-v1"], ["one of the arguments --checkpoint --policy is required"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:always_left", "--checkpoint", "run"], ["not allowed"]),
    (["--policy", "tests.test_demos:always_left"], ["--env"]),
    (["--env", "CartPole-v1", "--policy", "tests.no_such_module:act"], ["cannot import module 'tests.no_such_module'"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:always_lef"], ["no function 'always_lef'",
                                                                          "did you mean 'always_left'"]),
    (["--env", "CartPole-v1", "--policy", "always_left"], ["'package.module:function'"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:out_of_space"], ["action 2", "Discrete(2)"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:raises_at_step_3"], ["raised at step 3 of episode 0",
                                                                                "ZeroDivisionError"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:always_left", "--episodes", "0"],
     ["--episodes", "1 or more"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:always_left", "--out", "rayrl/demos"],
     ["NAME-vVERSION", "did you mean 'rayrl/demos-v0'"]),
    (["--env", "CartPole-v1", "--policy", "tests.test_demos:always_left", "--env-kwargs", "max_episode_steps"],
     ["--env-kwargs", "mapping"]),
])
def test_bad_input_is_one_line_and_exit_2_and_writes_nothing(args, needles, datasets_path):
    defaults = {"--episodes": "2", "--out": "rayrl/demos-v0"}
    args += [item for flag, value in defaults.items() if flag not in args for item in (flag, value)]
    code, out, err = rayrl("record-demos", *args)
    assert code == 2 and not out and err.count("\n") == 1 and err.startswith("rayrl: error:"), err
    assert all(needle in err for needle in needles), err
    assert not list(datasets_path.glob("**/data")) and not list(datasets_path.glob("**/.*"))


def test_an_existing_dataset_is_replaced_only_with_overwrite_and_other_directories_never(tmp_path):
    record = ["record-demos", "--env", "CartPole-v1", "--policy", "tests.test_demos:always_left", "--out"]
    assert rayrl(*record, "rayrl/left-v0", "--episodes", "2")[0] == 0
    code, _, err = rayrl(*record, "rayrl/left-v0", "--episodes", "1")
    assert code == 2 and err.count("\n") == 1 and "--overwrite" in err and "already exists" in err
    assert len(load_demos("rayrl/left-v0", **SPACES)) == 2
    assert rayrl(*record, "rayrl/left-v0", "--episodes", "1", "--overwrite")[0] == 0
    assert len(load_demos("rayrl/left-v0", **SPACES)) == 1
    (tmp_path / "mine").mkdir()
    code, _, err = rayrl(*record, str(tmp_path / "mine"), "--episodes", "1", "--overwrite")
    assert code == 2 and "not a Minari dataset" in err and (tmp_path / "mine").is_dir()


@pytest.fixture
def recorded(tmp_path) -> Path:
    record_demos(tmp_path / "demos", episodes=2, env="CartPole-v1", policy=always_left)
    return tmp_path / "demos"


def edit_metadata(dataset: Path, **changes) -> None:
    path = dataset / "data" / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps({k: v for k, v in metadata.items() if v is not None}))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def rewrite_column(dataset: Path, episode: int, name: str, change) -> None:
    """Episode ``episode``'s Arrow file with its column ``name`` replaced by ``change(column)``."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    file = dataset / "data" / str(episode) / "part-0.arrow"
    table = ds.dataset(file, format="arrow").to_table()
    table = table.set_column(table.schema.get_field_index(name), name, change(table.column(name).combine_chunks()))
    with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def never_ends(column):
    import pyarrow as pa

    return pa.array(np.zeros(len(column), bool))


@pytest.mark.parametrize("damage, needles", [
    (lambda d: truncate(d / "data" / "0" / "part-0.arrow"), ["is corrupt or unreadable"]),
    (lambda d: truncate(d / "data" / "metadata.json"), ["is corrupt or not a Minari dataset", "metadata.json"]),
    (lambda d: (d / "data" / "1" / "metadata.json").unlink(), ["is corrupt or unreadable"]),
    (lambda d: edit_metadata(d, total_steps=3), ["is corrupt", "metadata 3"]),
    (lambda d: rewrite_column(d, 1, "terminations", never_ends), ["episode 1 does not end"]),
    (lambda d: edit_metadata(d, data_format="hdf5"), ["stored as 'hdf5'", "'arrow'"]),
    (lambda d: edit_metadata(d, observation_space=None, env_spec="{}"), ["does not record its observation"]),
    (lambda d: edit_metadata(d, total_episodes=0), ["holds no episodes"]),
])
def test_a_damaged_or_foreign_dataset_is_one_line(recorded, damage, needles):
    damage(recorded)
    with pytest.raises(RayrlError) as error:
        load_demos(recorded, **SPACES)
    assert "\n" not in str(error.value) and str(recorded) in str(error.value)
    assert all(needle in str(error.value) for needle in needles), error.value


def test_missing_demos_and_other_spaces_are_one_line(recorded):
    with pytest.raises(RayrlError, match=r"^no demonstrations at dataset 'rayrl/nothing-v0' \(.*nothing-v0\)"):
        load_demos("rayrl/nothing-v0", **SPACES)
    acrobot = gym.make("Acrobot-v1")
    with pytest.raises(RayrlError) as error:
        load_demos(recorded, observation_space=acrobot.observation_space, action_space=acrobot.action_space)
    message = str(error.value)
    for space in (*SPACES.values(), acrobot.observation_space, acrobot.action_space):
        assert str(space) in message
    assert "\n" not in message


def test_an_extension_type_column_is_refused_before_its_values_are_read(recorded):
    import pyarrow as pa

    class Unread(pa.ExtensionType):  # a registered extension type: what a pickled-object column would be
        def __init__(self):
            super().__init__(pa.list_(pa.float32(), 4), "tests.unread")

        def __arrow_ext_serialize__(self):
            return b""

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type, serialized):
            return cls()

    rewrite_column(recorded, 0, "observations", lambda column: pa.ExtensionArray.from_storage(Unread(), column))
    pa.register_extension_type(Unread())
    try:
        with pytest.raises(RayrlError, match="extension type"):
            load_demos(recorded, **SPACES)
    finally:
        pa.unregister_extension_type("tests.unread")
