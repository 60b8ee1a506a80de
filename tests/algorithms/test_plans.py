"""What every algorithm's plan does on a real local Ray, checked once for all of them: reports with the shared
metric names, learning on CartPole, a killed worker replaced, the checkpoint state round trip, and for replay
plans, reports and checkpoints while the replay fills."""

from __future__ import annotations

import math
import time

import pytest
import torch

from rayrl.checkpoint import load_state, save_state

ALGOS = ["impala", "dqn", "apex", "a3c", "a2c", "gorila", "r2d2"]
LEARNER_METRICS = {
    "impala": ("policy_loss", "value_loss", "entropy", "grad_norm", "lr"),
    "a3c": ("policy_loss", "value_loss", "entropy", "grad_norm", "lr", "staleness_mean"),
    "a2c": ("policy_loss", "value_loss", "entropy", "grad_norm", "lr", "staleness_mean"),
    "dqn": ("loss", "q_mean", "td_error_abs", "grad_norm", "lr"),
    "apex": ("loss", "q_mean", "td_error_abs", "grad_norm", "lr"),
    "gorila": ("loss", "q_mean", "td_error_abs", "grad_norm", "lr", "staleness_mean"),
    "r2d2": ("loss", "q_mean", "td_error_abs", "grad_norm", "lr"),
}
ASYNC = {"impala", "apex", "r2d2"}  # workers act on weights older than the learner's: the plan reports the policy lag


def model_of(plan_state) -> dict[str, torch.Tensor]:
    """The trained parameters in a plan's state: its learner's, or its parameter server's."""
    return plan_state["learner"]["model"] if "learner" in plan_state else plan_state["server"]["params"]


@pytest.mark.parametrize("algo", ALGOS)
def test_reports_carry_progress_rates_and_learner_metrics(algo, make_plan, train_until_updates):
    plan = make_plan(algo)
    first = train_until_updates(plan)
    second = train_until_updates(plan)
    assert first["learner_updates"] >= 1
    assert second["timesteps_total"] > first["timesteps_total"] > 0
    assert second["env_steps_per_s"] > 0 and second["updates_per_s"] > 0
    assert second["num_workers"] == plan.config.num_workers and second["worker_restarts"] == 0
    for key in LEARNER_METRICS[algo]:
        assert math.isfinite(second[key]), key
    assert "priorities" not in second  # per-sample priorities go to the replay, not to the logs
    if algo in ASYNC:
        assert 0 <= second["policy_lag_mean"] <= second["policy_lag_max"]


@pytest.mark.parametrize("algo", ALGOS)
def test_learns_cartpole(algo, make_plan):
    """A short learning check; the 450-in-60-seconds figures live in benchmarks/time_to_return.py."""
    plan = make_plan(algo)
    deadline = time.time() + 60
    best = -math.inf
    while time.time() < deadline and best < 150:
        result = plan.train_step()
        if not math.isnan(result["episode_return_mean"]):
            best = max(best, result["episode_return_mean"])
    assert best >= 150, f"mean return over the last 100 episodes only reached {best:.1f}"


@pytest.mark.parametrize("algo", ALGOS)
def test_a_killed_worker_is_replaced_and_the_run_goes_on(algo, make_plan, ray_session):
    plan = make_plan(algo)
    plan.train_step()
    ray_session.kill(plan.workers.actors[0], no_restart=True)
    before = plan.progress.env_steps
    deadline = time.time() + 60
    # Replay learners train on meanwhile, so steps only resume once the replacement has started.
    while time.time() < deadline:
        result = plan.train_step()
        if result["timesteps_total"] > before:
            break
    assert result["worker_restarts"] == 1
    assert result["timesteps_total"] > before


@pytest.mark.parametrize("algo", ALGOS)
def test_state_roundtrip_restores_counters_and_the_learner(algo, make_plan, ray_session, train_until_updates,
                                                           tmp_path):
    plan = make_plan(algo)
    train_until_updates(plan)
    state = plan.get_state()
    save_state({"algo": algo, "config": plan.config.to_dict(), "plan": state}, tmp_path)
    original = model_of(state)
    progress = plan.progress.get_state()
    plan.stop()  # two plans do not fit in CI's 2 CPUs
    restored = make_plan(algo)
    restored.set_state(load_state(tmp_path)["plan"])
    assert restored.progress.get_state() == progress
    model = model_of(restored.get_state())
    assert model.keys() == original.keys() and all(torch.equal(model[k], original[k]) for k in original)
    assert train_until_updates(restored)["learner_updates"] > progress["updates"]


@pytest.mark.parametrize("algo", ALGOS)
def test_policy_weights_are_the_acting_networks_newest_version(algo, make_plan, train_until_updates):
    from rayrl.policy import make_policy

    plan = make_plan(algo)
    result = train_until_updates(plan)
    weights = plan.policy_weights()
    assert weights.version >= 1  # not the initial weights
    policy = make_policy(algo, plan.config)
    policy.set_weights(weights.fetch())  # exactly the acting network's parameters: load_state_dict is strict
    assert policy.act(torch.zeros(3, 4).numpy()).shape == (3,)
    assert weights.version <= max(result["learner_updates"], result.get("server_version", 0))


@pytest.mark.parametrize("algo", ["dqn", "apex", "gorila", "r2d2"])
def test_reports_and_checkpoints_come_while_the_replay_fills(algo, make_plan):
    plan = make_plan(algo, learning_starts=40_000)  # more than the first reports collect
    first = plan.train_step()
    assert first["learner_updates"] == 0 and 0 < first["timesteps_total"] < 40_000 and "loss" not in first
    start = time.monotonic()
    state = plan.get_state()  # never waits on the learner for long: no learner call waits on a filling replay
    assert time.monotonic() - start < 10 and state["progress"]["updates"] == 0
