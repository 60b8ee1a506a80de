"""``make_plan(algo, env, **overrides)``: an algorithm's plan with its preset for ``env`` on the session's Ray,
reporting every 0.5 s; every plan it made is stopped after the test."""

from __future__ import annotations

import pytest

from rayrl.algorithms import registry
from rayrl.config import build_config


@pytest.fixture
def make_plan(ray_session):
    plans = []

    def make(algo: str, env: str = "CartPole-v1", **overrides):
        spec = registry.get(algo)
        config = build_config(spec.config_cls, spec.preset_for(env), {"env": env, "report_seconds": 0.5, **overrides})
        plans.append(spec.plan_cls(config))
        return plans[-1]

    yield make
    for plan in plans:
        plan.stop()
