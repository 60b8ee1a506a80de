"""The QLearner actor that start_learner makes from a DQN-family config: its settings and a replay update."""

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rayrl.components.learner import LossOutput, start_learner
from rayrl.components.q_learner import QLearner


class TinyOnlineAndTarget(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.online = torch.nn.Linear(2, 3)
        self.target = torch.nn.Linear(2, 3)

    def sync_target(self):
        self.target.load_state_dict(self.online.state_dict())


def q_loss(model, batch):
    q = model.online(batch["obs"]).gather(1, batch["action"][:, None]).squeeze(1)
    td = batch["reward"] - q
    return LossOutput((td**2).mean(), {}, priorities=td.detach().abs())


@pytest.fixture
def learner(ray_session):
    """A QLearner actor of the tiny model: Adam lr 0.5, target synced every 2 updates."""
    config = SimpleNamespace(learner_cpus=1.0, learner_gpus=0, target_update_period=2, optimizer="adam", lr=0.5,
                             optimizer_eps=1e-8, rmsprop_decay=0.95, momentum=0.0, max_grad_norm=10.0, seed=3)
    actor = start_learner(config, model_fn=TinyOnlineAndTarget, loss_fn=q_loss, learner_cls=QLearner,
                          target_update_period=config.target_update_period)
    yield actor
    ray_session.kill(actor)


@pytest.fixture
def make_shards(ray_session):
    """``make_shards(count, min_size_to_sample)``: prioritized ReplayShard actors of 100 items, killed afterwards."""
    from rayrl.components.replay_shard import ReplayShard

    made = []

    def make(count: int, min_size_to_sample: int):
        made.extend(ray_session.remote(num_cpus=0)(ReplayShard).remote(
            s, 100, priority_exponent=0.6, min_size_to_sample=min_size_to_sample) for s in range(count))
        return made[-count:]

    yield make
    for shard in made:
        ray_session.kill(shard)


def test_start_learner_takes_the_config_s_settings_and_returns_priorities_for_the_sample_s_shard(learner,
                                                                                                    ray_session):
    batch = {"obs": np.ones((4, 2), np.float32), "action": np.array([0, 1, 2, 0]),
             "reward": np.zeros(4, np.float32), "indices": np.arange(4), "keys": np.arange(10, 14)}
    for _ in range(2):
        metrics, _, (shard_id, indices, keys, priorities) = ray_session.get(
            learner.update_from_replay.options(num_returns=3).remote((5, dict(batch))))
    assert shard_id == 5 and list(indices) == [0, 1, 2, 3] and list(keys) == [10, 11, 12, 13]
    assert priorities.shape == (4,) and metrics["lr"] == 0.5
    model = ray_session.get(learner.get_state.remote())["model"]
    assert torch.equal(model["online.weight"], model["target.weight"])  # synced after update 2


def test_the_learner_samples_connected_shards_itself_skips_refusing_ones_and_returns_their_priorities(
        learner, make_shards, ray_session):
    ray = ray_session
    shards = make_shards(2, min_size_to_sample=8)
    items = {"obs": np.ones((8, 2), np.float32), "action": np.arange(8) % 3, "reward": np.ones(8, np.float32),
             "priority": np.ones(8)}
    ray.get(shards[0].add.remote(items))  # shard 1 stays below its minimum size: it refuses every sample
    ray.get(learner.connect_replay.remote(shards, batch_size=4, in_flight_per_shard=2))
    metrics, updates, weights = ray.get(learner.train_from_replay.options(num_returns=3).remote(6))
    assert updates == 6 and metrics["lr"] == pytest.approx(0.5) and np.isfinite(metrics["loss"])
    assert set(weights) == {"weight", "bias"}
    stats = ray.get([shard.stats.remote() for shard in shards])  # queued after the priority updates
    assert [s["priority_updates"] for s in stats] == [6 * 4, 0]

    ray.get(shards[1].add.remote(items))
    ray.get(learner.train_from_replay.options(num_returns=3).remote(40))
    stats = ray.get([shard.stats.remote() for shard in shards])
    assert stats[1]["priority_updates"] > 0 and sum(s["priority_updates"] for s in stats) == 46 * 4


def test_a_learner_call_on_a_replay_still_filling_ends_after_max_seconds_with_no_update(learner, make_shards,
                                                                                       ray_session):
    ray_session.get(learner.connect_replay.remote(make_shards(1, min_size_to_sample=50), batch_size=4,
                                                  in_flight_per_shard=2))
    start = time.monotonic()
    metrics, updates, _ = ray_session.get(learner.train_from_replay.options(num_returns=3).remote(10, 0.5))
    assert (metrics, updates) == ({}, 0) and 0.5 <= time.monotonic() - start < 5
    assert ray_session.get(learner.get_state.remote())["version"] == 0  # and the actor answers the next call
