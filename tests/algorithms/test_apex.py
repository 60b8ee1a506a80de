"""Ape-X's plan on a real local Ray: metrics, learning on CartPole, worker failure, checkpoint state, priorities
routed to their shards; its epsilons and config checks."""

from __future__ import annotations

import math
import time

import pytest
import torch

from rayrl.algorithms import registry
from rayrl.algorithms.apex.config import ApexConfig, actor_epsilons
from rayrl.checkpoint import load_state, save_state
from rayrl.config import build_config
from rayrl.errors import RayrlError


def make_plan(env: str = "CartPole-v1", **overrides):
    algo = registry.get("apex")
    config = build_config(algo.config_cls, algo.preset_for(env), {"env": env, "report_seconds": 0.5, **overrides})
    return algo.plan_cls(config)


@pytest.fixture
def cartpole_plan(ray_session):
    plan = make_plan()
    yield plan
    plan.stop()


def test_actor_epsilons_follow_the_paper_s_formula():
    eps = actor_epsilons(8)
    assert eps[0] == pytest.approx(0.4) and eps[-1] == pytest.approx(0.4**8)
    assert eps[3] == pytest.approx(0.4 ** (1 + 7 * 3 / 7))
    assert all(a > b for a, b in zip(eps, eps[1:]))
    assert actor_epsilons(1) == [0.4]
    assert actor_epsilons(3, base=0.1, alpha=2.0) == pytest.approx([0.1, 0.01, 0.001])


def test_train_step_reports_impala_s_metric_names_and_replay_size(cartpole_plan, train_until_updates):
    first = train_until_updates(cartpole_plan)
    second = cartpole_plan.train_step()
    assert first["learner_updates"] >= 1
    assert second["timesteps_total"] > first["timesteps_total"] > 0
    assert second["env_steps_per_s"] > 0 and second["updates_per_s"] > 0
    assert 0 < second["replay_size"] <= cartpole_plan.config.buffer_size
    assert second["num_workers"] == 1 and second["worker_restarts"] == 0
    assert 0 <= second["policy_lag_mean"] <= second["policy_lag_max"]
    for key in ("loss", "q_mean", "td_error_abs", "grad_norm", "lr"):
        assert math.isfinite(second[key]), key
    assert "priorities" not in second


def test_each_shard_gets_the_priorities_of_its_own_samples(cartpole_plan, ray_session):
    for _ in range(3):
        cartpole_plan.train_step()
    time.sleep(0.5)  # let the last priority updates land
    stats = ray_session.get([shard.stats.remote() for shard in cartpole_plan.shards])
    assert len(stats) == cartpole_plan.config.num_replay_shards == 2
    for s in stats:
        # Priorities of a shard's own samples: never more updates than it handed out.
        assert 0 < s["priority_updates"] <= s["samples"]
    updated = sum(s["priority_updates"] for s in stats)
    assert updated >= (cartpole_plan.progress.updates - 2) * cartpole_plan.config.batch_size


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
    deadline = time.time() + 60
    # The learner trains on from the replay meanwhile, so steps only resume once the replacement has started.
    while time.time() < deadline:
        result = cartpole_plan.train_step()
        if result["timesteps_total"] > before:
            break
    assert result["worker_restarts"] == 1
    assert result["timesteps_total"] > before


def test_state_roundtrip_restores_counters_and_both_networks(cartpole_plan, ray_session, tmp_path,
                                                             train_until_updates):
    train_until_updates(cartpole_plan)
    save_state({"algo": "apex", "config": cartpole_plan.config.to_dict(), "plan": cartpole_plan.get_state()},
               tmp_path)
    original = ray_session.get(cartpole_plan.learner.get_state.remote())["model"]
    progress = cartpole_plan.progress.get_state()
    cartpole_plan.stop()  # two plans do not fit in CI's 2 CPUs
    restored = make_plan()
    try:
        restored.set_state(load_state(tmp_path)["plan"])
        assert restored.progress.get_state() == progress
        model = ray_session.get(restored.learner.get_state.remote())["model"]
        assert any(k.startswith("target.") for k in model)
        assert all(torch.equal(model[k], original[k]) for k in original)
        assert train_until_updates(restored)["learner_updates"] > progress["updates"]
    finally:
        restored.stop()


def test_reports_and_checkpoints_come_while_the_replay_fills(ray_session):
    plan = make_plan(learning_starts=40_000)  # more than the first reports collect
    try:
        first = plan.train_step()
        assert first["learner_updates"] == 0 and 0 < first["timesteps_total"] < 40_000 and "loss" not in first
        start = time.monotonic()
        state = plan.get_state()  # queued behind learner calls that find no batch: they end within report_seconds
        assert time.monotonic() - start < 10 and state["progress"]["updates"] == 0
    finally:
        plan.stop()


def test_continuous_actions_are_a_one_line_error(ray_session):
    with pytest.raises(RayrlError, match="Discrete action space"):
        make_plan("Pendulum-v1")


@pytest.mark.parametrize("overrides", [{"n_step": 5, "rollout_length": 4}, {"epsilon_base": 1.5},
                                       {"num_replay_shards": 0}, {"buffer_size": 1000, "batch_size": 512}])
def test_bad_config_values_are_one_line_errors(overrides):
    with pytest.raises(RayrlError, match="bad value for config key"):
        build_config(ApexConfig, overrides)
