"""The Tune Trainable that runs any rayrl plan: Tune gives run directories, TensorBoard, checkpoints and retries."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune

from rayrl.algorithms import registry
from rayrl.checkpoint import load_state, save_state
from rayrl.config import build_config
from rayrl.tune.placement import trial_bundles

ALGO_KEY = "algo"
RESTORE_KEY = "restore_from"
"""Trial config keys beside the algorithm's own: which algorithm, and a checkpoint to start from (--resume)."""

def trial_config(algo: str, config, restore_from: str | None = None) -> dict[str, Any]:
    """The flat dict Tune sees (and may search over): the algorithm's config keys plus ours."""
    out = {ALGO_KEY: algo, **config.to_dict()}
    if restore_from:
        out[RESTORE_KEY] = str(restore_from)
    return out

def split_trial_config(trial: dict[str, Any]):
    """(Algorithm, its config, restore path) from a trial config: the algorithm's preset for the env, then the
    trial's keys (a user's own ``tune.Tuner(rayrl.Trainable, param_space={"algo": ..., "env": ..., ...})`` names
    only what it sets; rayrl's own trials carry every key)."""
    algo = registry.get(trial[ALGO_KEY])
    params = {k: v for k, v in trial.items() if k not in (ALGO_KEY, RESTORE_KEY)}
    preset = algo.preset_for(params["env"]) if "env" in params else {}
    return algo, build_config(algo.config_cls, preset, params), trial.get(RESTORE_KEY)

class RayrlTrainable(tune.Trainable):
    """One Tune trial = one plan (and an evaluator, with ``evaluation_period_seconds``). Each ``step`` is one
    reporting period of the plan.

    Also ``rayrl.Trainable``, for a user's own Tuner: its config is ``{"algo": NAME, "env": ENV_ID, KEY: VALUE...}``
    with any of the algorithm's config keys (Tune search spaces welcome); the others come from the algorithm's
    preset for the env and its defaults.
    """

    def setup(self, config: dict[str, Any]) -> None:
        for name in ("ray.tune", "ray.train"):  # no line per checkpoint on the console
            logging.getLogger(name).setLevel(logging.WARNING)
        self.algo, self.algo_config, restore_from = split_trial_config(config)
        self.plan = self.algo.plan_cls(self.algo_config)
        self.evaluation = None
        if self.algo_config.evaluation_period_seconds is not None:
            from rayrl.tune.evaluator import PeriodicEvaluation

            self.evaluation = PeriodicEvaluation(self.algo.name, self.algo_config)
        if restore_from:
            self._continue_from(restore_from)

    def step(self) -> dict[str, Any]:
        metrics = self.plan.train_step()
        if self.evaluation:
            metrics.update(self.evaluation.poll(self.plan))
        return metrics

    def _continue_from(self, checkpoint: str) -> None:
        """Start from a checkpoint (``rayrl train --resume``): the plan's state, and Tune's iteration, training time
        and checkpoint numbers counted on from there, so a run continued in its own trial directory continues its
        curves and keeps its earlier checkpoints."""
        state = load_state(checkpoint)
        self.plan.set_state(state["plan"])
        counters = state.get("trainable", {})  # not in checkpoints written before it was saved
        self._iteration = int(counters.get("iteration", 0))
        self._time_total = float(counters.get("time_total_s", 0.0))
        number = Path(checkpoint).name.removeprefix("checkpoint_")
        if self._storage and number.isdigit():
            self._storage.current_checkpoint_index = int(number)

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        state = {"algo": self.algo.name, "config": self.algo_config.to_dict(), "plan": self.plan.get_state(),
                 "trainable": {"iteration": self.iteration, "time_total_s": self._time_total}}
        save_state(state, checkpoint_dir)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.plan.set_state(load_state(checkpoint_dir)["plan"])

    def cleanup(self) -> None:
        self.plan.stop()
        if self.evaluation:
            self.evaluation.stop()

    @classmethod
    def default_resource_request(cls, config: dict[str, Any]) -> tune.PlacementGroupFactory:
        """One bundle for this process, one for the learner, one per rollout worker (see rayrl.tune.placement)."""
        _, algo_config, _ = split_trial_config(config)
        return tune.PlacementGroupFactory(trial_bundles(algo_config))
