"""Shared fixtures: one local Ray (2 CPUs, as on CI) for the whole session, started only by tests that need it."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture
def train_until_updates():
    """``train_until_updates(plan)``: a replay plan's first report with learner updates (reports come while the
    replay still fills to learning_starts, with env steps only)."""
    import time

    def first_report_with_updates(plan, timeout: float = 60.0) -> dict:
        deadline = time.time() + timeout
        while True:
            result = plan.train_step()
            if result["learner_updates"] > 0 or time.time() > deadline:
                return result

    return first_report_with_updates
