"""core.py's contracts match the code: every Protocol has implementations, and each implements every method of its
Protocol with the Protocol's parameters (extra ones only with defaults)."""

from __future__ import annotations

import inspect
import typing

import pytest

from rayrl import core
from rayrl.algorithms.a3c.plan import A3CPlan
from rayrl.algorithms.apex.plan import ApexPlan
from rayrl.algorithms.dqn.plan import DQNPlan
from rayrl.algorithms.gorila.plan import GorilaPlan
from rayrl.algorithms.impala.plan import ImpalaPlan
from rayrl.algorithms.r2d2.plan import R2D2Plan
from rayrl.algorithms.r2d3.plan import R2D3Plan
from rayrl.components.gradient_worker import GradientWorker
from rayrl.components.learner import Learner
from rayrl.components.parameter_server import ParameterServer
from rayrl.components.q_learner import QLearner
from rayrl.components.replay_batches import ReplayBatches
from rayrl.components.rollout_worker import RecurrentSamplingCore, RolloutWorker, SamplingCore
from rayrl.components.sequence_worker import RecurrentEpsilonGreedyCore, SequenceWorker
from rayrl.components.transition_worker import EpsilonGreedyCore, TransitionWorker
from rayrl.replay import ReplayBuffer

IMPLEMENTATIONS = {
    core.PolicyCore: [SamplingCore, RecurrentSamplingCore, EpsilonGreedyCore, RecurrentEpsilonGreedyCore],
    core.RolloutWorker: [RolloutWorker, TransitionWorker, SequenceWorker],
    core.BatchSource: [RolloutWorker, ReplayBatches],
    core.GradientWorker: [GradientWorker],
    core.ParameterSource: [ParameterServer],
    core.ReplayBuffer: [ReplayBuffer],
    core.Learner: [Learner, QLearner],
    core.Plan: [ImpalaPlan, DQNPlan, ApexPlan, A3CPlan, GorilaPlan, R2D2Plan, R2D3Plan],
}


def test_every_protocol_in_core_is_listed_here():
    protocols = {obj for obj in vars(core).values()
                 if isinstance(obj, type) and typing.Protocol in obj.__mro__ and obj is not typing.Protocol}
    assert protocols == set(IMPLEMENTATIONS)


def _methods(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize("protocol, cls", [(p, c) for p, classes in IMPLEMENTATIONS.items() for c in classes],
                         ids=lambda x: x.__name__)
def test_each_implementation_follows_its_protocol(protocol, cls):
    assert _methods(protocol), protocol
    for name in _methods(protocol):
        assert callable(getattr(cls, name, None)), f"{cls.__name__} has no {name}"
        wanted = inspect.signature(getattr(protocol, name)).parameters
        got = inspect.signature(getattr(cls, name)).parameters
        for param in wanted.values():
            assert param.name in got, f"{cls.__name__}.{name} lacks '{param.name}'"
            assert got[param.name].kind == param.kind, f"{cls.__name__}.{name}: '{param.name}' is another kind"
        for extra in set(got) - set(wanted):
            assert got[extra].default is not inspect.Parameter.empty or got[extra].kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD), f"{cls.__name__}.{name}: '{extra}'"
