"""A3C's asynchrony and A2C's rounds on a local Ray: stale gradients, the drop rule, one mean per round."""

from __future__ import annotations

import math


def run(plan, reports: int) -> list[dict]:
    return [plan.train_step() for _ in range(reports)]


FOUR_WORKERS = dict(num_workers=4, num_envs_per_worker=2, rollout_length=5, worker_cpus=0.25, learner_cpus=0.25)


def test_four_async_workers_apply_gradients_out_of_order_and_stale_ones_are_dropped(make_plan):
    plan = make_plan("a3c", **FOUR_WORKERS)
    results = run(plan, 4)
    # A gradient applied after others that were computed later: its version is behind the server's.
    assert max(r["staleness_max"] for r in results if not math.isnan(r["staleness_max"])) > 0
    assert results[-1]["gradients_dropped"] == 0  # max_staleness null keeps every gradient
    plan.stop()

    strict = make_plan("a3c", max_staleness=0, **FOUR_WORKERS)
    results = run(strict, 4)
    assert results[-1]["gradients_dropped"] > 0
    assert all(r["staleness_max"] == 0 for r in results if not math.isnan(r["staleness_max"]))
    assert 0 < results[-1]["learner_updates"] <= results[-1]["server_version"]  # answers come as calls end


def test_a2c_applies_one_mean_of_every_worker_per_round_with_no_staleness(make_plan):
    plan = make_plan("a2c", **FOUR_WORKERS)
    results = run(plan, 3)
    last = results[-1]
    assert all(r["staleness_max"] == 0 for r in results if not math.isnan(r["staleness_max"]))
    assert last["learner_updates"] == last["server_version"] > 0
    per_round = 4 * 2 * 5  # workers x envs x t_max
    assert last["env_steps_trained"] == per_round * last["learner_updates"]
    assert last["gradients_dropped"] == 0
