"""What every plan with one learner checkpoints: the learner's state and the progress counters."""

from __future__ import annotations

from typing import Any

import ray

from rayrl.core import PublishedWeights


class LearnerPlanState:
    """``policy_weights``, ``get_state`` and ``set_state`` for a plan holding ``self.learner`` (an actor), ``self.progress`` and
    ``self.weights``. Replay contents are not saved: a replay refills after a restore."""

    def policy_weights(self) -> PublishedWeights:
        return self.weights

    def get_state(self) -> dict[str, Any]:
        return {"learner": ray.get(self.learner.get_state.remote()), "progress": self.progress.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        ray.get(self.learner.set_state.remote(state["learner"]))
        self.progress.set_state(state["progress"])
        self.weights = PublishedWeights(self.progress.updates, [self.learner.get_weights.remote()])
