"""DQN's own checks (the ones every plan shares are in test_plans.py): the replay ratio, errors, config checks, the
tune configs, the loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rayrl.algorithms import registry
from rayrl.algorithms.dqn.config import DQNConfig
from rayrl.algorithms.dqn.loss import dqn_loss
from rayrl.config import build_config
from rayrl.errors import RayrlError
from rayrl.models.q_network import OnlineAndTarget
from rayrl.tune.study import load_study

TUNE_CONFIGS = Path(__file__).parents[2] / "tune_configs" / "dqn"


def test_the_plan_holds_the_replay_ratio(make_plan, train_until_updates):
    plan = make_plan("dqn")
    train_until_updates(plan)
    result = train_until_updates(plan)
    # updates * batch_size / (env steps past learning_starts) <= samples_per_insert, within one batch.
    c = plan.config
    assert result["timesteps_total"] >= c.learning_starts
    replayed = result["learner_updates"] * c.batch_size
    assert replayed <= c.samples_per_insert * (result["timesteps_total"] - c.learning_starts) + c.batch_size


def test_continuous_actions_are_a_one_line_error(make_plan):
    with pytest.raises(RayrlError, match="Discrete action space"):
        make_plan("dqn", "Pendulum-v1")


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
             "reward": torch.zeros(5), "discount": torch.ones(5), "importance_weight": torch.ones(5)}
    priorities = dqn_loss(model, batch, double_q=double_q).priorities
    q_next = model.target(next_obs)
    a_next = (model.online(next_obs) if double_q else q_next).argmax(-1)
    target = q_next.gather(1, a_next[:, None]).squeeze(1)
    td = target - online(obs).gather(1, batch["action"][:, None]).squeeze(1)
    torch.testing.assert_close(priorities, td.abs().detach() + 1e-6)
    assert not any(p.requires_grad for p in model.target.parameters())
