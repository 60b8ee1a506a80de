"""The search-space syntax of tune_configs files, mapped onto Ray Tune's sampling domains.

    search:
      lr: {loguniform: [1.0e-4, 3.0e-3]}
      entropy_cost: {choice: [0.0, 0.01]}
      batch_size: {grid: [16, 32]}
      gamma: {uniform: [0.95, 0.999]}
      seed: {randint: [0, 1000]}

Each key must be a config key of the algorithm; each value a one-entry mapping of kind -> arguments.
"""

from __future__ import annotations

import difflib
from typing import Any

from ray import tune

from rayrl.errors import RayrlError, did_you_mean

KINDS = {
    "grid": lambda args: tune.grid_search(list(args)),
    "choice": lambda args: tune.choice(list(args)),
    "uniform": lambda args: tune.uniform(*_pair(args)),
    "loguniform": lambda args: tune.loguniform(*_pair(args)),
    "randint": lambda args: tune.randint(*_pair(args)),
}


def _pair(args: Any) -> tuple[float, float]:
    if not isinstance(args, (list, tuple)) or len(args) != 2 or not all(isinstance(a, (int, float)) for a in args):
        raise ValueError("expects [low, high]")
    low, high = args
    if not low < high:
        raise ValueError(f"expects low < high, got [{low}, {high}]")
    return low, high


def parse_domain(key: str, spec: Any):
    """One key's ``{kind: args}`` as a Tune domain, or a one-line error naming the key."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise RayrlError(f"search space for '{key}' must be one of {{{', '.join(KINDS)}: ...}}, got {spec!r}")
    (kind, args), = spec.items()
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RayrlError(f"unknown search kind '{kind}' for '{key}'; {hint}use one of {', '.join(KINDS)}")
    if kind in ("grid", "choice") and (not isinstance(args, list) or not args):
        raise RayrlError(f"search space for '{key}': {kind} expects a non-empty list of values")
    try:
        return KINDS[kind](args)
    except ValueError as e:
        raise RayrlError(f"search space for '{key}': {kind} {e}") from None


def parse_search_space(space: dict[str, Any] | None, config_keys: list[str]) -> dict[str, Any]:
    """Every entry of a ``search:`` mapping as a Tune domain; keys are checked against the algorithm's config."""
    out = {}
    for key, spec in (space or {}).items():
        if key not in config_keys:
            raise RayrlError(f"search space names unknown config key '{key}'{did_you_mean(key, config_keys)}")
        out[key] = parse_domain(key, spec)
    return out
