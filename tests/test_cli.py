"""The ``rayrl`` command as a user runs it: one-line errors for bad input, and a real run that resumes."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROGRESS = re.compile(r"^\s*[\d.]+s\s+steps\s+(?P<steps>[\d,]+)\s", re.M)

def rayrl(*args: str, timeout: float = 240, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rayrl.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)

def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rayrl: error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]

@pytest.mark.parametrize(
    "args, needles",
    [
        (["train", "impalla", "--env", "CartPole-v1"], ["unknown algorithm 'impalla'", "did you mean 'impala'"]),
        (["train", "impala", "--env", "CartPole-v9"], ["unknown env id 'CartPole-v9'", "CartPole-v1"]),
        (["train", "impala", "--env", "CartPole-v1", "--set", "lrr=1e-3"], ["unknown config key 'lrr'", "'lr'"]),
        (["train", "impala", "--env", "CartPole-v1", "--set", "lr=-0.001"], ["'lr'", "positive"]),
        (["train", "impala", "--env", "CartPole-v1", "--set", "num_workers=two"], ["'num_workers'"]),
        (["train", "impala", "--env", "FrozenLake-v1"], ["observation space", "Box"]),
        (["train", "impala", "--env", "tests.envs.dummy_env:NoSuchEnv"], ["NoSuchEnv"]),
        (["train", "impala", "--env", "CartPole-v1", "--config", "no/such.yaml"], ["config file not found"]),
        (["train", "--resume", "no/such/run"], ["does not exist"]),
        (["train", "impala", "--env", "CartPole-v1", "--stop-timesteps", "many"], ["invalid int", "--help"]),
        (["train", "impala", "--env", "CartPole-v1", "--no-such-flag"], ["--no-such-flag", "'rayrl train --help'"]),
        (["train", "impala", "--env", "CartPole-v1", "--set", "env_kwargs={no_such_kwarg: 1}"],
         ["env 'CartPole-v1' could not be built", "TypeError", "no_such_kwarg"]),
        (["train", "impala", "--env", "tests.envs.dummy_env:CountdownEnv", "--set", "env_kwargs={nope: 1}"],
         ["could not be built", "TypeError", "nope"]),
        (["tune", "--resume", "no/such/run"], ["study file"]),
        (["evaluate", "no/such/run"], ["does not exist"]),
        (["evaluate", "no/such/run", "--episodes", "0"], ["--episodes", "1 or more", "'rayrl evaluate --help'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needles):
    assert_one_line_error(rayrl(*args, timeout=60), *needles)

def test_misspelled_stop_criteria_in_a_config_file_and_a_study(tmp_path):
    run = tmp_path / "run.yaml"
    run.write_text("algo: impala\nconfig: {env: CartPole-v1}\nstop: {episode_retun_mean: 450}\n")
    assert_one_line_error(rayrl("train", "--config", str(run), timeout=60), "unknown stop metric 'episode_retun_mean'",
                          "did you mean 'episode_return_mean'")
    study = tmp_path / "study.yaml"
    study.write_text("algo: impala\nconfig: {env: CartPole-v1}\nstop: {timesteps: 1000}\n")
    assert_one_line_error(rayrl("tune", str(study), timeout=60), "unknown stop metric 'timesteps'")
    study.write_text("algo: impala\nconfig: {env: CartPole-v1}\nstop: {timesteps_total: lots}\n")
    assert_one_line_error(rayrl("tune", str(study), timeout=60), "bad stop threshold", "use a number")


BROKEN_ENVS = (
    "import gymnasium as gym, numpy as np\n"
    "class Raises(gym.Env):\n"
    "    def __init__(self):\n"
    "        raise RuntimeError('no licence server')\n"
    "class ResetRaises(gym.Env):\n"
    "    observation_space = gym.spaces.Box(-1, 1, (2,))\n"
    "    action_space = gym.spaces.Discrete(2)\n"
    "    def reset(self, *, seed=None, options=None):\n"
    "        raise ValueError('bad level file')\n"
)


@pytest.mark.parametrize("env, needles", [("Raises", ["could not be built", "RuntimeError: no licence server"]),
                                          ("ResetRaises", ["failed on its first reset", "ValueError: bad level file"])])
def test_a_user_env_that_raises_is_one_line_and_debug_shows_the_traceback(tmp_path, env, needles):
    (tmp_path / "broken_envs.py").write_text(BROKEN_ENVS)
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    command = [sys.executable, "-m", "rayrl.cli", "train", "impala", "--env", f"broken_envs:{env}"]
    assert_one_line_error(run(command), f"env 'broken_envs:{env}'", *needles)
    debug = run([*command, "--debug"])
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "broken_envs.py" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("rayrl: error:")


def test_a_checkpoint_with_objects_other_than_tensors_is_refused_without_running_them(tmp_path):
    import torch

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    checkpoint = tmp_path / "run" / "checkpoint_000000"
    checkpoint.mkdir(parents=True)
    torch.save({"algo": "impala", "config": {}, "plan": Payload()}, checkpoint / "rayrl_state.pt")
    result = rayrl("train", "--resume", str(tmp_path / "run"))
    assert_one_line_error(result, "holds objects other than tensors and was not loaded")
    assert "weights_only" not in result.stderr and not marker.exists()


def test_unsupported_action_space(tmp_path):
    module = tmp_path / "multi_env.py"
    module.write_text(
        "import gymnasium as gym, numpy as np\n"
        "class MultiEnv(gym.Env):\n"
        "    observation_space = gym.spaces.Box(-1, 1, (2,))\n"
        "    action_space = gym.spaces.MultiDiscrete([2, 3])\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        return np.zeros(2, np.float32), {}\n"
    )
    result = subprocess.run([sys.executable, "-m", "rayrl.cli", "train", "impala", "--env", "multi_env:MultiEnv"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert_one_line_error(result, "action space", "Discrete")

def test_a_replay_larger_than_the_cluster_s_memory_is_one_line_before_training():
    # Checked before Ray starts: no Ray output comes before the line.
    result = rayrl("train", "dqn", "--env", "CartPole-v1", "--set", "buffer_size=10000000000", timeout=60)
    assert "ray" not in result.stdout.lower()
    assert_one_line_error(result, "buffer_size=10,000,000,000 needs", "GiB of replay memory", "--set buffer_size=")

def test_corrupt_checkpoint_for_resume(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint_000000"
    checkpoint.mkdir(parents=True)
    (checkpoint / "rayrl_state.pt").write_bytes(b"not a checkpoint")
    assert_one_line_error(rayrl("train", "--resume", str(tmp_path / "run")), "corrupt")

def test_train_writes_tensorboard_and_checkpoint_then_resumes_in_its_own_run_directory(tmp_path):
    # A relative storage path is taken from the working directory (Tune itself accepts only absolute ones).
    first = rayrl("train", "impala", "--env", "CartPole-v1", "--stop-timesteps", "30000", "--name", "run",
                  "--storage-path", "runs", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "WARNING" not in first.stdout + first.stderr  # Ray's notice of token authentication among them
    steps = [int(m["steps"].replace(",", "")) for m in PROGRESS.finditer(first.stdout)]
    assert steps and steps[-1] >= 30000
    (trial,) = [p for p in Path(tmp_path, "runs", "run").iterdir() if p.is_dir()]
    assert list(trial.glob("events.out.tfevents.*")), "no TensorBoard event file"
    first_checkpoints = sorted(p.name for p in trial.glob("checkpoint_*"))
    assert first_checkpoints, "no checkpoint"

    second = rayrl("train", "--resume", str(tmp_path / "runs" / "run"), "--stop-timesteps", str(steps[-1] + 30000))
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"continuing in {tmp_path / 'runs' / 'run'}" in second.stdout
    resumed = [int(m["steps"].replace(",", "")) for m in PROGRESS.finditer(second.stdout)]
    assert resumed[0] > steps[-1], "the resumed run started its step counter from zero"
    assert resumed[-1] >= steps[-1] + 30000
    # One trial directory whose curves continue: both runs' reports in one result.json, counted on, and the
    # TensorBoard files of both runs side by side (TensorBoard shows them as one run).
    assert [p for p in Path(tmp_path, "runs", "run").iterdir() if p.is_dir()] == [trial]
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    assert [row["training_iteration"] for row in rows] == list(range(1, len(rows) + 1))
    assert rows[len(steps) - 1]["timesteps_total"] == steps[-1] and rows[-1]["timesteps_total"] == resumed[-1]
    assert len(list(trial.glob("events.out.tfevents.*"))) == 2
    checkpoints = sorted(p.name for p in trial.glob("checkpoint_*"))
    assert checkpoints[-1] > first_checkpoints[-1], "the resumed run's checkpoints did not count on"


def test_evaluation_during_training_is_reported_logged_and_stopped_on(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = rayrl("train", "impala", "--env", "CartPole-v1", "--stop-eval-return", "5", "--stop-seconds", "60",
                   "--set", "evaluation_period_seconds=1", "evaluation_episodes=3", "--name", "run",
                   "--storage-path", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "evaluating 3 greedy episodes every 1s" in result.stdout
    (trial,) = [p for p in Path(tmp_path, "run").iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    # Every report carries the keys (NaN until the first evaluation finished); the run stopped on the first that
    # reached 5 (every CartPole episode lasts at least 8 steps), a greedy evaluation of weights that had trained.
    assert all("eval/return_mean" in row for row in rows)
    assert rows[-1]["eval/return_mean"] >= 5 and rows[-1]["eval/policy_version"] >= 1
    assert [row for row in rows if row["eval/return_mean"] >= 5] == rows[-1:]
    assert re.search(r"eval \d+\.\d\d$", result.stdout.strip().splitlines()[-4].strip())
    (events,) = trial.glob("events.out.tfevents.*")
    tags = EventAccumulator(str(events)).Reload().Tags()["scalars"]
    assert "ray/tune/eval/return_mean" in tags and "ray/tune/eval/length_mean" in tags
