"""IMPALA's own plan checks (the ones every plan shares are in test_plans.py): Box actions train."""

from __future__ import annotations

import math


def test_continuous_actions_train(make_plan):
    plan = make_plan("impala", "Pendulum-v1", num_envs_per_worker=4)
    result = plan.train_step()
    assert result["learner_updates"] >= 1 and math.isfinite(result["loss"])
