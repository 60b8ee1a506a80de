"""The algorithms rayrl knows: name -> config class, plan class and per-env-kind presets."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

from rayrl.errors import RayrlError


@dataclass(frozen=True)
class Algorithm:
    name: str
    config_cls: type
    plan_path: str
    """"module:Class" of the plan, imported on first use (it pulls in torch; the CLI checks configs without)."""
    vector_preset: dict[str, Any]
    """Overrides for envs with vector observations (classic control)."""
    atari_preset: dict[str, Any]
    """Overrides for Atari (ALE) envs, on top of the paper defaults."""
    check_action_space: str = "rayrl.models.spaces:check_action_space"
    """"module:function" raising a one-line error for action spaces the algorithm cannot handle (torch-free)."""

    @property
    def plan_cls(self) -> type:
        module, _, cls = self.plan_path.partition(":")
        return getattr(importlib.import_module(module), cls)

    def check_spaces(self, observation_space, action_space) -> None:
        """One-line errors, before Ray starts, for spaces this algorithm's models cannot handle."""
        from rayrl.models.spaces import check_observation_space

        check_observation_space(observation_space)
        module, _, function = self.check_action_space.partition(":")
        getattr(importlib.import_module(module), function)(action_space)

    def preset_for(self, env_id: str) -> dict[str, Any]:
        return dict(self.atari_preset if is_atari(env_id) else self.vector_preset)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def _impala() -> Algorithm:
    from rayrl.algorithms.impala.config import ATARI_PRESET, VECTOR_PRESET, ImpalaConfig

    return Algorithm("impala", ImpalaConfig, "rayrl.algorithms.impala.plan:ImpalaPlan", VECTOR_PRESET, ATARI_PRESET)


def _dqn() -> Algorithm:
    from rayrl.algorithms.dqn.config import ATARI_PRESET, VECTOR_PRESET, DQNConfig

    return Algorithm("dqn", DQNConfig, "rayrl.algorithms.dqn.plan:DQNPlan", VECTOR_PRESET, ATARI_PRESET,
                     check_action_space="rayrl.models.spaces:check_discrete_action_space")


def _apex() -> Algorithm:
    from rayrl.algorithms.apex.config import ATARI_PRESET, VECTOR_PRESET, ApexConfig

    return Algorithm("apex", ApexConfig, "rayrl.algorithms.apex.plan:ApexPlan", VECTOR_PRESET, ATARI_PRESET,
                     check_action_space="rayrl.models.spaces:check_discrete_action_space")


def _gorila() -> Algorithm:
    from rayrl.algorithms.gorila.config import ATARI_PRESET, VECTOR_PRESET, GorilaConfig

    return Algorithm("gorila", GorilaConfig, "rayrl.algorithms.gorila.plan:GorilaPlan", VECTOR_PRESET, ATARI_PRESET,
                     check_action_space="rayrl.models.spaces:check_discrete_action_space")


def _a3c() -> Algorithm:
    from rayrl.algorithms.a3c.config import ATARI_PRESET, VECTOR_PRESET, A3CConfig

    return Algorithm("a3c", A3CConfig, "rayrl.algorithms.a3c.plan:A3CPlan", VECTOR_PRESET, ATARI_PRESET)


def _a2c() -> Algorithm:
    """A3C's plan in its synchronous setting: one version to every worker, the mean of their gradients applied once."""
    from rayrl.algorithms.a3c.config import ATARI_PRESET, VECTOR_PRESET, A3CConfig

    return Algorithm("a2c", A3CConfig, "rayrl.algorithms.a3c.plan:A3CPlan", dict(VECTOR_PRESET, sync=True),
                     dict(ATARI_PRESET, sync=True))


def _r2d2() -> Algorithm:
    from rayrl.algorithms.r2d2.config import ATARI_PRESET, VECTOR_PRESET, R2D2Config

    return Algorithm("r2d2", R2D2Config, "rayrl.algorithms.r2d2.plan:R2D2Plan", VECTOR_PRESET, ATARI_PRESET,
                     check_action_space="rayrl.models.spaces:check_discrete_action_space")


def _r2d3() -> Algorithm:
    from rayrl.algorithms.r2d3.config import ATARI_PRESET, VECTOR_PRESET, R2D3Config

    return Algorithm("r2d3", R2D3Config, "rayrl.algorithms.r2d3.plan:R2D3Plan", VECTOR_PRESET, ATARI_PRESET,
                     check_action_space="rayrl.models.spaces:check_discrete_action_space")


_ALGORITHMS = {"a2c": _a2c, "a3c": _a3c, "apex": _apex, "dqn": _dqn, "gorila": _gorila, "impala": _impala,
               "r2d2": _r2d2, "r2d3": _r2d3}


def names() -> list[str]:
    return sorted(_ALGORITHMS)


def get(name: str) -> Algorithm:
    """The algorithm called ``name``, or a one-line error with the closest known name."""
    key = name.lower()
    if key not in _ALGORITHMS:
        close = difflib.get_close_matches(key, names(), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RayrlError(f"unknown algorithm '{name}'; {hint}known: {', '.join(names())}")
    return _ALGORITHMS[key]()
