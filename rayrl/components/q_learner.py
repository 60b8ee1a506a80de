"""The learner of value-based methods (DQN, Ape-X, GORILA, R2D2): online and target networks, replay priorities."""

from __future__ import annotations

from rayrl.components.learner import Learner
from rayrl.core import Batch, Weights


class QLearner(Learner):
    """A :class:`Learner` of an :class:`OnlineAndTarget` model that trains on replay samples.

    Each update copies the online network into the target every ``target_update_period`` updates, and returns
    the new priorities with the ids the replay needs to apply them. Workers get the online network only.
    """

    def __init__(self, *, target_update_period: int, **kwargs):
        super().__init__(batch_axis=0, samples_key="reward", **kwargs)
        self.target_update_period = target_update_period

    def update_from_replay(self, sample: tuple[int, Batch] | None):
        """``(metrics, weights, (shard_id, indices, keys, priorities))`` for a :class:`ReplayShard` sample."""
        if sample is None:
            raise RuntimeError("the replay refused a sample the plan's rate control allowed")
        shard_id, batch = sample
        ids = {name: batch.pop(name) for name in ("indices", "keys")}
        metrics, weights = self.update(batch, return_weights=True)
        if self.version % self.target_update_period == 0:
            self.model.sync_target()
        return metrics, weights, (shard_id, ids["indices"], ids["keys"], self.extras["priorities"].cpu().numpy())

    def get_weights(self) -> Weights:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.model.online.state_dict().items()}
