"""Evaluation during training (rayrl/tune/evaluator.py) on a real local Ray: reports never wait on it, it evaluates
the plan's newest weights with fixed seeds, and a crashed evaluator is replaced without ending the run."""

from __future__ import annotations

import math
import time

import pytest

from rayrl.tune.evaluator import PeriodicEvaluation

SHARES = {"learner_cpus": 0.5, "worker_cpus": 0.5}  # learner, worker and evaluator in the session's 2 CPUs


def poll_until_evaluated(evaluation, plan, after_version: float = -1, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        plan.train_step()
        metrics = evaluation.poll(plan)
        if metrics["eval/policy_version"] > after_version:
            return metrics
    raise AssertionError("no evaluation finished")


@pytest.mark.parametrize("algo", ["impala", "a3c"])  # a learner's published weights; a parameter server's shards'
def test_reports_carry_the_last_evaluation_of_the_newest_weights(algo, make_plan):
    plan = make_plan(algo, evaluation_period_seconds=0.5, evaluation_episodes=2,
                     **SHARES)
    evaluation = PeriodicEvaluation(algo, plan.config)
    try:
        before = evaluation.poll(plan)  # its period has not elapsed: nothing ran, nothing waited
        assert all(math.isnan(value) for value in before.values())
        first = poll_until_evaluated(evaluation, plan)
        assert first["eval/return_mean"] >= 8 and first["eval/length_mean"] >= 8  # CartPole lasts 8 steps at least
        assert first["eval/policy_version"] >= 1  # weights that had trained
        later = poll_until_evaluated(evaluation, plan, after_version=first["eval/policy_version"])
        assert later["eval/policy_version"] > first["eval/policy_version"]
    finally:
        evaluation.stop()


def test_a_crashed_evaluator_is_replaced_and_the_run_goes_on(make_plan, ray_session):
    plan = make_plan("impala", evaluation_period_seconds=0.5, evaluation_episodes=1,
                     **SHARES)
    evaluation = PeriodicEvaluation("impala", plan.config)
    try:
        first = poll_until_evaluated(evaluation, plan)
        ray_session.kill(evaluation.actor, no_restart=True)
        after = poll_until_evaluated(evaluation, plan, after_version=first["eval/policy_version"])
        assert math.isfinite(after["eval/return_mean"])
    finally:
        evaluation.stop()
