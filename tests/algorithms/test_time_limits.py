"""A time limit is not a terminal state (Pardo et al. 2018): IMPALA's and A3C's losses bootstrap through it.

On an env with one state, reward 1 at every step and only a time limit ending its episodes, the true value is
1 / (1 - gamma) = 10. Treating the cut as terminal would teach the mean of the truncated sums (2.6 for a limit of 5).
"""

import functools

import torch

from rayrl.algorithms.a3c.config import A3CConfig
from rayrl.algorithms.a3c.loss import a3c_loss
from rayrl.algorithms.impala.config import ImpalaConfig
from rayrl.algorithms.impala.loss import impala_loss
from rayrl.components.gradient_worker import GradientWorker
from rayrl.components.learner import Learner
from rayrl.components.parameter_server import ParameterShard
from rayrl.components.rollout_worker import RolloutWorker, join_rollouts
from rayrl.core import PublishedWeights
from rayrl.models import ActorCritic

ENV = "tests.envs.dummy_env:TimeLimitOnlyEnv"


def test_impala_learns_the_value_past_a_time_limit_not_the_truncated_sum():
    gamma = 0.9
    worker = RolloutWorker(env=ENV, env_kwargs={"time_limit": 5}, num_envs=4, rollout_length=8, seed=0,
                           hidden_sizes=(16,))
    config = ImpalaConfig(gamma=gamma, optimizer="adam", lr=3e-3)
    spaces = (worker.envs.single_observation_space, worker.envs.single_action_space)
    learner = Learner(model_fn=functools.partial(ActorCritic, *spaces, (16,)),
                      loss_fn=functools.partial(impala_loss, config=config), optimizer="adam", lr=3e-3,
                      optimizer_eps=1e-8, join=join_rollouts, device="cpu", seed=0)
    weights = PublishedWeights(0, [learner.get_weights()])
    for _ in range(400):
        rollouts = [worker.sample(weights)[0] for _ in range(2)]
        assert sum(len(r["final_at"]) for r in rollouts) > 0
        _, state = learner.update(*rollouts, return_weights=True)
        weights = PublishedWeights(learner.version, [state])
    with torch.no_grad():
        _, value = learner.model(torch.ones(1, 2))
    assert abs(float(value) - 1 / (1 - gamma)) < 0.5, float(value)


def test_a3c_learns_the_value_past_a_time_limit_through_a_gradient_worker_and_a_shard():
    gamma = 0.9
    config = A3CConfig(gamma=gamma)
    worker = GradientWorker(loss_fn=functools.partial(a3c_loss, config=config), max_grad_norm=40.0, env=ENV,
                            env_kwargs={"time_limit": 5}, num_envs=8, rollout_length=8, seed=0, hidden_sizes=(16,))
    params = {k: v.detach().numpy().copy() for k, v in worker.source.model.named_parameters()}
    shard = ParameterShard(params=params, indices=range(len(params)), publish_period=1, optimizer="adam", lr=3e-3,
                           optimizer_eps=1e-8)
    weights = PublishedWeights(0, [shard.get_weights()])
    for _ in range(400):
        gradients, _ = worker.compute_gradients(weights)
        answer, new_weights = shard.apply(gradients)
        weights = PublishedWeights(answer.version, [new_weights])
    with torch.no_grad():
        _, value = worker.source.model(torch.ones(1, 2))
    assert abs(float(value) - 1 / (1 - gamma)) < 0.5, float(value)
