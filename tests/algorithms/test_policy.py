"""A checkpoint of each kind of plan (learner or parameter server, Q-network or actor-critic) as a Policy that acts
on the CPU without Ray, and evaluation episodes of it on Ray tasks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import rayrl
from rayrl.checkpoint import save_state
from rayrl.errors import RayrlError
from rayrl.evaluation import evaluate, run_episodes
from rayrl.policy import policy_weights


def checkpoint(plan, algo: str, directory) -> dict:
    """Save ``plan``'s state as a run's checkpoint and stop the plan (its actors hold the session's 2 CPUs)."""
    state = plan.get_state()
    save_state({"algo": algo, "config": plan.config.to_dict(), "plan": state}, directory)
    plan.stop()
    return state


@pytest.mark.parametrize("algo", ["impala", "dqn", "gorila", "a3c"])
def test_a_checkpoint_acts_greedily_with_its_network_for_one_observation_or_a_batch(algo, make_plan, tmp_path):
    state = checkpoint(make_plan(algo), algo, tmp_path / "checkpoint_000001")
    policy = rayrl.load_policy(tmp_path)  # a run directory: its newest checkpoint
    weights = policy_weights(state)
    assert all(torch.equal(policy.model.state_dict()[k], v) for k, v in weights.items())
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    actions = policy.act(obs)
    assert actions.shape == (64,) and set(actions.tolist()) <= {0, 1}
    assert policy.act(obs[3]) == actions[3] and np.array_equal(policy.act(obs), actions)  # greedy: no noise
    with torch.no_grad():
        x = torch.from_numpy(obs)
        scores = policy.model(x) if algo in ("dqn", "gorila") else policy.model.policy_params(x)
    np.testing.assert_array_equal(actions, scores.argmax(-1).numpy())


def test_stochastic_actions_sample_the_policy_and_continuous_ones_keep_to_the_bounds(make_plan, tmp_path):
    checkpoint(make_plan("impala", "Pendulum-v1"), "impala", tmp_path)
    policy = rayrl.load_policy(tmp_path, seed=0)
    obs = np.zeros((256, 3), np.float32)
    greedy, sampled = policy.act(obs), policy.act(obs, stochastic=True)
    assert greedy.shape == sampled.shape == (256, 1) and np.all(greedy == greedy[0])
    assert np.unique(sampled).size > 100 and np.all(np.abs(sampled) <= 2.0)


def test_evaluation_episodes_are_whole_and_split_over_ray_tasks(make_plan, tmp_path):
    checkpoint(make_plan("dqn"), "dqn", tmp_path)
    policy = rayrl.load_policy(tmp_path)
    summary = evaluate(policy, episodes=5, seed=10)
    returns, lengths = run_episodes(policy, env="CartPole-v1", env_kwargs=None, episodes=5, seed=10,
                                    stochastic=False)
    # The same seeds give the same episodes, wherever they ran; CartPole pays 1 a step.
    assert summary["episodes"] == 5 and summary["return_mean"] == pytest.approx(np.mean(returns))
    assert summary["length_mean"] == pytest.approx(np.mean(lengths)) and returns == [float(n) for n in lengths]
    with pytest.raises(RayrlError, match="other spaces"):
        evaluate(policy, episodes=1, env="Acrobot-v1")


def test_rayrl_evaluate_prints_one_json_line_and_refuses_a_foreign_checkpoint(make_plan, tmp_path):
    checkpoint(make_plan("impala"), "impala", tmp_path / "run" / "checkpoint_000000")
    cli = [sys.executable, "-m", "rayrl.cli", "evaluate"]
    done = subprocess.run([*cli, str(tmp_path / "run"), "--episodes", "3", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["algo"] == "impala" and summary["env"] == "CartPole-v1" and summary["episodes"] == 3
    assert 8 <= summary["return_min"] <= summary["return_mean"] <= summary["return_max"] <= 500
    (tmp_path / "foreign").mkdir()
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign" / "rayrl_state.pt")
    refused = subprocess.run([*cli, str(tmp_path / "foreign")], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "not a rayrl checkpoint" in refused.stderr and not refused.stdout

