"""GORILA's batch source (an actor, its replay and a target network that follows the server) and both replay
topologies on a local Ray; a gradient worker's process killed with SIGKILL in A3C and GORILA runs."""

from __future__ import annotations

import functools
import os
import signal
import time

import numpy as np
import pytest
import ray
import torch

from rayrl.algorithms.dqn.loss import dqn_loss
from rayrl.components.gradient_worker import GradientWorker
from rayrl.components.replay_batches import ReplayBatches
from rayrl.core import PublishedWeights
from rayrl.models.q_network import QNetwork

SOURCE = dict(env="CartPole-v1", num_envs=4, rollout_length=4, n_step=2, gamma=0.99, epsilon=1.0,
              hidden_sizes=(8,), dueling=False, seed=0, batch_size=8, target_update_period=3, replay_capacity=1000,
              learning_starts=24)


def server_weights(version: int) -> PublishedWeights:
    """A version of 'the server's' parameters: a fresh network per version, so each is told apart."""
    import gymnasium as gym

    torch.manual_seed(100 + version)
    net = QNetwork(gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), (8,), False)
    return PublishedWeights(version, [{k: v.detach().numpy().copy() for k, v in net.named_parameters()}])


def target_equals(source: ReplayBatches, weights: PublishedWeights) -> bool:
    target = source.model.target.state_dict()
    return all(np.array_equal(target[k].numpy(), v) for k, v in weights.fetch().items())


def test_batches_start_at_learning_starts_and_the_target_is_the_servers_every_period():
    source = ReplayBatches(**SOURCE)
    v0 = server_weights(0)
    batch, stats = source.sample(v0)  # 12 transitions in (n - 1 steps wait for the next call): below 24
    assert batch is None and stats.env_steps == 16 and target_equals(source, v0)
    batch, _ = source.sample(v0)
    assert batch is not None and batch["reward"].shape == (8,) and "indices" not in batch
    assert np.all(batch["importance_weight"] == 1.0)  # uniform replay
    for version, target in [(1, v0), (2, v0), (3, server_weights(3)), (5, server_weights(3))]:
        weights = target if version == 3 else server_weights(version)
        source.sample(weights)
        assert source.actor.policy_version == version and target_equals(source, target), version


def test_a_gorila_gradient_is_the_online_networks_on_the_version_it_pulled():
    worker = GradientWorker(loss_fn=functools.partial(dqn_loss, double_q=True), max_grad_norm=10.0,
                            source_cls=ReplayBatches, **SOURCE)
    gradients, stats = worker.compute_gradients(server_weights(0))
    assert gradients is None and stats.metrics == {}  # 12 transitions: the replay is filling
    gradients, stats = worker.compute_gradients(server_weights(4))
    shapes = [v.shape for v in server_weights(0).fetch().values()]
    assert [g.shape for g in gradients.grads] == shapes  # the online network's alone, in the server's order
    assert gradients.version == 4 and gradients.samples == 8 and {"loss", "grad_norm", "q_mean"} <= set(stats.metrics)


def test_a_worker_pushes_to_the_shards_itself_and_pulls_with_every_publish_period_th_gradient(ray_session):
    import gymnasium as gym

    from rayrl.components.parameter_server import ParameterServer

    network = functools.partial(QNetwork, gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), (8,),
                                False)
    server = ParameterServer(network, num_shards=2, publish_period=2, seed=0, num_cpus=0.1, optimizer="sgd",
                             lr=0.01, optimizer_eps=1e-8)
    server.latest().fetch()  # the shards have started
    worker = GradientWorker(loss_fn=functools.partial(dqn_loss, double_q=True), max_grad_norm=10.0,
                            source_cls=ReplayBatches, **SOURCE)
    answers, stats = worker.run(server.link(seconds=0.5))
    # Alone, a worker's gradient is stale only by its own gradients since its last pull: every second one by 1.
    assert len(answers) >= 4 and [a.staleness[0] for a in answers] == [i % 2 for i in range(len(answers))]
    assert stats.env_steps == 16 * (len(answers) + 1)  # the first call filled the replay: no gradient
    # The last gradient was computed on the version of the last pull: every second version, one gradient before.
    assert {"loss", "q_mean"} <= set(stats.metrics) and stats.policy_version == (len(answers) - 1) // 2 * 2
    pulled = ray.get([shard.exchange.remote(None, 0, False) for shard in server.shards])
    assert [applied.version for applied, _ in pulled] == [len(answers)] * 2  # every shard took every gradient
    server.stop()


def test_global_replay_shards_take_every_actors_transitions_and_feed_every_learner(make_plan):
    plan = make_plan("gorila", replay="global", num_replay_shards=2, num_workers=2, worker_cpus=0.5,
                     learning_starts=400)
    deadline = time.time() + 60
    result = plan.train_step()
    while time.time() < deadline and result["learner_updates"] < 20:
        result = plan.train_step()
    # Workers bring the shards' answers back when their calls end, so the newest version seen runs ahead of the
    # updates counted so far.
    assert 20 <= result["learner_updates"] <= result["server_version"]
    sizes = ray.get([shard.size.remote() for shard in plan.shards])
    assert all(size > 0 for size in sizes) and result["replay_size"] > 400


@pytest.mark.parametrize("algo", ["a3c", "gorila"])
def test_sigkill_of_a_gradient_workers_process_does_not_end_the_run(algo, make_plan, ray_session):
    plan = make_plan(algo)
    plan.train_step()
    pid = ray_session.get(plan.workers.actors[0].__ray_call__.remote(lambda worker: os.getpid()))
    os.kill(pid, signal.SIGKILL)
    before = plan.progress.env_steps
    deadline = time.time() + 60
    while time.time() < deadline:
        result = plan.train_step()
        if result["worker_restarts"] == 1 and result["timesteps_total"] > before:
            break
    assert result["worker_restarts"] == 1 and result["timesteps_total"] > before
