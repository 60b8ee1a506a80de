"""IMPALA's plan on a real local Ray: metrics, learning on CartPole, worker failure, checkpoint state, Box actions."""

from __future__ import annotations

import math
import time

import pytest

from rayrl.algorithms import registry
from rayrl.checkpoint import load_state, save_state
from rayrl.config import build_config


def make_plan(env: str = "CartPole-v1", **overrides):
    algo = registry.get("impala")
    config = build_config(algo.config_cls, algo.preset_for(env), {"env": env, "report_seconds": 0.5, **overrides})
    return algo.plan_cls(config)


@pytest.fixture
def cartpole_plan(ray_session):
    plan = make_plan()
    yield plan
    plan.stop()


def test_train_step_reports_progress_and_policy_lag(cartpole_plan):
    first = cartpole_plan.train_step()
    second = cartpole_plan.train_step()
    assert first["learner_updates"] >= 1
    assert second["timesteps_total"] > first["timesteps_total"] > 0
    assert second["env_steps_per_s"] > 0 and second["updates_per_s"] > 0
    assert 0 <= second["policy_lag_mean"] <= second["policy_lag_max"]
    for key in ("policy_loss", "value_loss", "entropy", "grad_norm", "lr"):
        assert math.isfinite(second[key]), key


def test_learns_cartpole(cartpole_plan):
    """A short learning check; the 450-in-60-seconds figure lives in benchmarks/time_to_return.py."""
    deadline = time.time() + 60
    best = -math.inf
    while time.time() < deadline and best < 150:
        result = cartpole_plan.train_step()
        if not math.isnan(result["episode_return_mean"]):
            best = max(best, result["episode_return_mean"])
    assert best >= 150, f"mean return over the last 100 episodes only reached {best:.1f}"


def test_a_killed_worker_is_replaced_and_the_run_goes_on(cartpole_plan, ray_session):
    cartpole_plan.train_step()
    ray_session.kill(cartpole_plan.workers.actors[0], no_restart=True)
    before = cartpole_plan.progress.env_steps
    for _ in range(6):
        result = cartpole_plan.train_step()
    assert result["worker_restarts"] == 1
    assert result["timesteps_total"] > before


def test_state_roundtrip_restores_counters_and_weights(cartpole_plan, ray_session, tmp_path):
    for _ in range(2):
        cartpole_plan.train_step()
    save_state({"algo": "impala", "config": cartpole_plan.config.to_dict(), "plan": cartpole_plan.get_state()},
               tmp_path)
    original = ray_session.get(cartpole_plan.learner.get_weights.remote())
    progress = cartpole_plan.progress.get_state()
    cartpole_plan.stop()  # two plans do not fit in CI's 2 CPUs
    restored = make_plan()
    try:
        restored.set_state(load_state(tmp_path)["plan"])
        assert restored.progress.get_state() == progress
        weights = ray_session.get(restored.learner.get_weights.remote())
        assert all((weights[k] == original[k]).all() for k in original)
        assert restored.train_step()["learner_updates"] > progress["updates"]
    finally:
        restored.stop()


def test_continuous_actions_train(ray_session):
    plan = make_plan("Pendulum-v1", num_envs_per_worker=4)
    try:
        result = plan.train_step()
        assert result["learner_updates"] >= 1 and math.isfinite(result["loss"])
    finally:
        plan.stop()
