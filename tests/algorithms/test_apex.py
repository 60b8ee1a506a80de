"""Ape-X's own checks (the ones every plan shares are in test_plans.py): priorities routed to their shards, its
epsilons, errors and config checks."""

from __future__ import annotations

import time

import pytest

from rayrl.algorithms.apex.config import ApexConfig, actor_epsilons
from rayrl.config import build_config
from rayrl.errors import RayrlError


def test_actor_epsilons_follow_the_paper_s_formula():
    eps = actor_epsilons(8)
    assert eps[0] == pytest.approx(0.4) and eps[-1] == pytest.approx(0.4**8)
    assert eps[3] == pytest.approx(0.4 ** (1 + 7 * 3 / 7))
    assert all(a > b for a, b in zip(eps, eps[1:]))
    assert actor_epsilons(1) == [0.4]
    assert actor_epsilons(3, base=0.1, alpha=2.0) == pytest.approx([0.1, 0.01, 0.001])


def test_each_shard_gets_the_priorities_of_its_own_samples(make_plan, ray_session, train_until_updates):
    plan = make_plan("apex")
    train_until_updates(plan)
    for _ in range(2):
        result = plan.train_step()
    assert 0 < result["replay_size"] <= plan.config.buffer_size
    time.sleep(0.5)  # let the last priority updates land
    stats = ray_session.get([shard.stats.remote() for shard in plan.shards])
    assert len(stats) == plan.config.num_replay_shards == 2
    for s in stats:
        # Priorities of a shard's own samples: never more updates than it handed out.
        assert 0 < s["priority_updates"] <= s["samples"]
    updated = sum(s["priority_updates"] for s in stats)
    assert updated >= plan.progress.updates * plan.config.batch_size


def test_continuous_actions_are_a_one_line_error(make_plan):
    with pytest.raises(RayrlError, match="Discrete action space"):
        make_plan("apex", "Pendulum-v1")


@pytest.mark.parametrize("overrides", [{"n_step": 5, "rollout_length": 4}, {"epsilon_base": 1.5},
                                       {"num_replay_shards": 0}, {"buffer_size": 1000, "batch_size": 512}])
def test_bad_config_values_are_one_line_errors(overrides):
    with pytest.raises(RayrlError, match="bad value for config key"):
        build_config(ApexConfig, overrides)
