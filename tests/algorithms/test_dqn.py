"""DQN's plan on a real local Ray: metrics, learning on CartPole, checkpoint state, errors; its config checks."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

from rayrl.algorithms import registry
from rayrl.algorithms.dqn.config import DQNConfig
from rayrl.algorithms.dqn.loss import dqn_loss
from rayrl.checkpoint import load_state, save_state
from rayrl.config import build_config
from rayrl.errors import RayrlError
from rayrl.models.q_network import OnlineAndTarget
from rayrl.tune.study import load_study

TUNE_CONFIGS = Path(__file__).parents[2] / "tune_configs" / "dqn"


def make_plan(env: str = "CartPole-v1", **overrides):
    algo = registry.get("dqn")
    config = build_config(algo.config_cls, algo.preset_for(env), {"env": env, "report_seconds": 0.5, **overrides})
    return algo.plan_cls(config)


@pytest.fixture
def cartpole_plan(ray_session):
    plan = make_plan()
    yield plan
    plan.stop()


def test_train_step_reports_impala_s_metric_names(cartpole_plan, train_until_updates):
    first = train_until_updates(cartpole_plan)
    second = cartpole_plan.train_step()
    assert first["learner_updates"] >= 1
    assert second["timesteps_total"] > first["timesteps_total"] >= cartpole_plan.config.learning_starts
    assert second["env_steps_per_s"] > 0 and second["updates_per_s"] > 0
    for key in ("loss", "q_mean", "td_error_abs", "grad_norm", "lr"):
        assert math.isfinite(second[key]), key
    assert "priorities" not in second
    # The plan holds the replay ratio: updates * batch_size / (env steps past learning_starts) <= samples_per_insert.
    c = cartpole_plan.config
    replayed = second["learner_updates"] * c.batch_size
    assert replayed <= c.samples_per_insert * (second["timesteps_total"] - c.learning_starts) + c.batch_size


def test_learns_cartpole(cartpole_plan):
    """A short learning check; the 450-in-60-seconds figure lives in benchmarks/time_to_return.py."""
    deadline = time.time() + 60
    best = -math.inf
    while time.time() < deadline and best < 150:
        result = cartpole_plan.train_step()
        if not math.isnan(result["episode_return_mean"]):
            best = max(best, result["episode_return_mean"])
    assert best >= 150, f"mean return over the last 100 episodes only reached {best:.1f}"


def test_state_roundtrip_restores_counters_and_both_networks(cartpole_plan, ray_session, tmp_path,
                                                             train_until_updates):
    train_until_updates(cartpole_plan)
    save_state({"algo": "dqn", "config": cartpole_plan.config.to_dict(), "plan": cartpole_plan.get_state()}, tmp_path)
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


def test_continuous_actions_are_a_one_line_error(ray_session):
    with pytest.raises(RayrlError, match="Discrete action space"):
        make_plan("Pendulum-v1")


def test_cartpole_tune_config_is_the_preset_written_out():
    """``rayrl train --config tune_configs/dqn/cartpole.yaml`` runs what ``rayrl train dqn`` runs."""
    algo = registry.get("dqn")
    assert load_study(str(TUNE_CONFIGS / "cartpole.yaml"), {}).config == build_config(
        algo.config_cls, algo.preset_for("CartPole-v1"), {"env": "CartPole-v1"})


def test_pong_tune_config_keeps_the_paper_s_settings_and_its_replay_fits_24_gib():
    config = load_study(str(TUNE_CONFIGS / "pong.yaml"), {}).config
    paper = DQNConfig()
    assert all(getattr(config, k) == getattr(paper, k) for k in (
        "batch_size", "lr", "learning_starts", "target_update_period", "samples_per_insert", "epsilon_end",
        "epsilon_timesteps", "optimizer", "gamma", "n_step", "double_q", "dueling", "prioritized_replay",
        "buffer_size"))
    assert config.buffer_size * 1.1 * 84 * 84 < 8 * 2**30  # about a frame per transition, room to spare


@pytest.mark.parametrize("overrides", [{"n_step": 5, "rollout_length": 4}, {"epsilon_end": 1.5},
                                       {"buffer_size": 8, "batch_size": 32}, {"samples_per_insert": 0}])
def test_bad_config_values_are_one_line_errors(overrides):
    with pytest.raises(RayrlError, match="bad value for config key"):
        build_config(DQNConfig, overrides)


@pytest.mark.parametrize("double_q", [False, True])
def test_loss_regresses_onto_the_target_network_s_values(double_q):
    """Zero reward, discount 1: the target is the target network's (double-)Q value at next_obs."""
    torch.manual_seed(0)
    online = torch.nn.Linear(3, 2)
    model = OnlineAndTarget(online)
    with torch.no_grad():
        online.weight.mul_(2.0)  # online and target now differ
    obs, next_obs = torch.randn(5, 3), torch.randn(5, 3)
    batch = {"obs": obs, "next_obs": next_obs, "action": torch.tensor([0, 1, 0, 1, 1]),
             "reward": torch.zeros(5), "discount": torch.ones(5), "weights": torch.ones(5)}
    _, metrics = dqn_loss(model, batch, double_q=double_q)
    q_next = model.target(next_obs)
    a_next = (model.online(next_obs) if double_q else q_next).argmax(-1)
    target = q_next.gather(1, a_next[:, None]).squeeze(1)
    td = target - online(obs).gather(1, batch["action"][:, None]).squeeze(1)
    torch.testing.assert_close(metrics["priorities"], td.abs().detach() + 1e-6)
    assert not any(p.requires_grad for p in model.target.parameters())
