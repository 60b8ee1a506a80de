"""The learner of value-based methods (DQN, Ape-X, GORILA, R2D2): online and target networks, replay priorities."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from rayrl.components.learner import Learner, LossFn, learner_gpus
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


def start_q_learner(config: Any, *, model_fn: Callable[[], nn.Module], loss_fn: LossFn):
    """A :class:`QLearner` actor (one CPU, the GPU ``config.learner_gpus`` asks for) with ``config``'s optimizer,
    gradient clip, target period and seed: the fields DQN-family configs share."""
    import ray

    return ray.remote(num_cpus=1, num_gpus=learner_gpus(config.learner_gpus))(QLearner).remote(
        model_fn=model_fn, loss_fn=loss_fn, target_update_period=config.target_update_period,
        optimizer=config.optimizer, lr=config.lr, optimizer_eps=config.optimizer_eps,
        rmsprop_decay=config.rmsprop_decay, momentum=config.momentum, max_grad_norm=config.max_grad_norm,
        num_threads=1, seed=config.seed,
    )
