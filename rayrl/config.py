"""Typed configs: frozen dataclasses built from layered overrides, with one-line errors for bad keys and values.

Layers, later ones winning: the dataclass defaults (the paper's Atari settings), the algorithm's preset for the
kind of environment (classic control gets sizes that suit it), a YAML file, then ``--set key=value`` pairs.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from rayrl.errors import RayrlError, did_you_mean


@dataclass(frozen=True)
class CommonConfig:
    """What every algorithm shares: the environment, the topology and the reporting cadence."""

    env: str = "CartPole-v1"
    """A gymnasium id ("ALE/Pong-v5") or a user env class as "package.module:ClassName"."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments passed to the env's constructor."""
    seed: int = 0
    """Seeds envs (worker i, env j gets seed + 1000 i + j) and torch."""
    num_workers: int = 2
    """Rollout workers, one Ray actor (``worker_cpus`` CPUs) each."""
    max_workers: int = 0
    """Elastic: grow up to this many rollout workers while the cluster has free CPUs (new nodes); 0 = fixed."""
    num_envs_per_worker: int = 8
    """Envs stepped in one worker process, with one batched forward pass per step."""
    learner_cpus: float = 1.0
    """CPUs the learner actor reserves; below 1 lets a small cluster run what a local Ray runs, by sharing CPUs."""
    worker_cpus: float = 1.0
    """CPUs each rollout worker reserves (a fraction oversubscribes, as ``learner_cpus``)."""
    learner_gpus: float | None = None
    """GPUs for the learner; None (null): one when the Ray cluster has one, else none (the CPU)."""
    hidden_sizes: tuple = (256, 256)
    """MLP encoder sizes for vector observations (images use the Nature CNN)."""
    report_seconds: float = 2.0
    """Wall time per reported training iteration (one progress line, one TensorBoard point)."""
    evaluation_period_seconds: float | None = None
    """Evaluate the newest policy this often during training (greedy, whole episodes without the training
    transforms, on an actor of its own; ``eval/return_mean``); None: no evaluation during training."""
    evaluation_episodes: int = 10
    """Episodes per evaluation during training (the same reset seeds each time, so evaluations compare)."""
    optimizer: str = "rmsprop"
    """rmsprop (the DQN, A3C and IMPALA papers; torch's, epsilon outside the square root), adam or sgd."""
    lr: float = 6e-4
    """Learning rate."""
    optimizer_eps: float = 0.01
    """RMSProp's or Adam's epsilon."""
    rmsprop_decay: float = 0.99
    """RMSProp's moving-average decay."""
    momentum: float = 0.0
    """RMSProp's or SGD's momentum."""
    max_grad_norm: float = 40.0
    """Global gradient-norm clip."""

    def __post_init__(self):
        check(self.num_workers >= 1, "num_workers", self.num_workers, "use 1 or more")
        check(self.max_workers == 0 or self.max_workers >= self.num_workers, "max_workers", self.max_workers,
              "use 0 (fixed) or at least num_workers")
        check(self.num_envs_per_worker >= 1, "num_envs_per_worker", self.num_envs_per_worker, "use 1 or more")
        check(self.learner_cpus > 0, "learner_cpus", self.learner_cpus, "use a positive share, e.g. 0.5 or 1")
        check(self.worker_cpus > 0, "worker_cpus", self.worker_cpus, "use a positive share, e.g. 0.5 or 1")
        check(self.report_seconds > 0, "report_seconds", self.report_seconds, "use a positive number of seconds")
        check(self.evaluation_period_seconds is None or self.evaluation_period_seconds > 0,
              "evaluation_period_seconds", self.evaluation_period_seconds, "use a positive number of seconds, or null")
        check(self.evaluation_episodes >= 1, "evaluation_episodes", self.evaluation_episodes, "use 1 or more")
        check(self.learner_gpus is None or self.learner_gpus >= 0, "learner_gpus", self.learner_gpus,
              "use 0 or more, or null for one GPU when the cluster has one")
        check(self.optimizer in ("rmsprop", "adam", "sgd"), "optimizer", self.optimizer,
              "use 'rmsprop', 'adam' or 'sgd'")
        check(self.lr > 0, "lr", self.lr, "use a positive learning rate, e.g. 6e-4")
        check(self.optimizer_eps > 0, "optimizer_eps", self.optimizer_eps, "use a positive epsilon")
        check(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "use a positive norm")

    def check_env_spaces(self, observation_space, action_space) -> None:
        """One-line errors, before Ray starts, for what this config needs of its env beyond the algorithm's
        models (R2D3: demonstrations recorded in the same spaces); nothing here."""

    @property
    def learner_actors(self) -> int:
        """Actors of ``learner_cpus`` CPUs each: the learner, or a parameter server's shards."""
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def optimizer_kwargs(config: Any) -> dict[str, Any]:
    """A config's optimizer keys (``CommonConfig``'s) as the arguments a learner or parameter shard takes."""
    return {key: getattr(config, key) for key in ("optimizer", "lr", "optimizer_eps", "rmsprop_decay", "momentum")}


def check(ok: bool, key: str, value: Any, fix: str) -> None:
    """Raise a one-line error naming a config key whose value is out of range."""
    if not ok:
        raise RayrlError(f"bad value for config key '{key}': {value!r}; {fix}")


def load_yaml(path: str) -> dict[str, Any]:
    """A YAML file's mapping, or a one-line error."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise RayrlError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RayrlError(f"cannot read config file {path}: {e}") from None
    except yaml.YAMLError as e:
        raise RayrlError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:  # an empty file
        return {}
    if not isinstance(data, dict):
        raise RayrlError(f"config file {path} must hold a mapping of config keys, not {type(data).__name__}")
    return data


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "num_workers=4"]`` -> ``{"lr": 0.0003, "num_workers": 4}`` (values parsed as YAML)."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise RayrlError(f"bad override '{pair}': write key=value, e.g. --set lr=3e-4")
        out[key.strip()] = _parse_value(raw)
    return out


def _parse_value(raw: str) -> Any:
    """A YAML value; numbers YAML 1.1 leaves as strings ('3e-4', no dot) are read as numbers too."""
    value = yaml.safe_load(raw) if raw.strip() else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def build_config(cls: type, *layers: dict[str, Any]):
    """Build the frozen config ``cls`` from dicts applied in order; unknown keys and bad types fail in one line."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in names:
                hint = did_you_mean(key, names, f"; known keys: {', '.join(sorted(names))}")
                raise RayrlError(f"unknown config key '{key}' for {cls.__name__}{hint}")
            values[key] = _coerce(key, value, hints[key])
    try:
        return cls(**values)
    except TypeError as e:
        raise RayrlError(f"bad config for {cls.__name__}: {e}") from None


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check a value against its field's type, converting where it is lossless (int -> float, list -> tuple)."""
    base = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if base is typing.Union or str(base) == "types.UnionType":
        if value is None and type(None) in args:
            return None
        base = next(a for a in args if a is not type(None))
        base = typing.get_origin(base) or base
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if base is tuple and isinstance(value, list):
        return tuple(value)
    if base in (int, float, str, bool, dict, tuple) and not isinstance(value, base) or (
        base in (int, float) and isinstance(value, bool)
    ):
        raise RayrlError(f"bad value for config key '{key}': {value!r} is not of type {base.__name__}")
    return value


STOP_METRICS = ("timesteps_total", "episode_return_mean", "time_total_s", "eval/return_mean", "training_iteration",
                "episodes_total", "episode_len_mean", "learner_updates", "env_steps_trained")
"""Reported metrics a run can stop on (``stop:`` in YAML files; the --stop-* flags set the first four)."""


def check_stop(stop: Any, source: str) -> dict[str, float]:
    """Stop criteria ``{metric: threshold}`` from ``source`` (a file), checked as config keys are: one line each."""
    if not isinstance(stop, dict):
        raise RayrlError(f"'stop:' in {source} must map metrics to thresholds, e.g. {{episode_return_mean: 450}}")
    for key, value in stop.items():
        if key not in STOP_METRICS:
            hint = did_you_mean(key, STOP_METRICS, f"; use one of {', '.join(STOP_METRICS)}")
            raise RayrlError(f"unknown stop metric '{key}' in {source}{hint}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RayrlError(f"bad stop threshold for '{key}' in {source}: {value!r}; use a number")
    return dict(stop)
