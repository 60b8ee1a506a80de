"""The actor-critic family's recurrent option (use_lstm): the loss's unroll over a rollout against a plain
step-by-step loop and the worker's own behaviour, joined rollouts, IMPALA and A3C plans training the LSTM (IMPALA
learning CartPole), and a recurrent actor-critic checkpoint acting with memory."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

import rayrl
from rayrl.algorithms.a3c.config import A3CConfig
from rayrl.algorithms.actor_critic import evaluate_rollout
from rayrl.algorithms.impala.config import ImpalaConfig
from rayrl.checkpoint import save_state
from rayrl.components.rollout_worker import RolloutWorker, join_rollouts
from rayrl.config import build_config
from rayrl.core import PublishedWeights
from rayrl.errors import RayrlError
from rayrl.policy import make_policy

FRAMES = "tests.envs.dummy_env:FramesEnv"  # episodes of 1 to 4 steps, ended by termination or a time limit at random
COUNTDOWN = "tests.envs.dummy_env:CountdownEnv"  # ten actions


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Workers limit torch to one thread for the whole process; give the other tests their threads back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def random_weights(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Weights large enough that the policy is far from uniform and the state matters."""
    generator = torch.Generator().manual_seed(seed)
    return {name: 0.5 * torch.randn(value.shape, generator=generator) for name, value in model.state_dict().items()}


def rollouts(env: str, num_envs: int, calls: int, seed: int = 0, **kwargs) -> tuple[RolloutWorker, list[dict]]:
    worker = RolloutWorker(env=env, num_envs=num_envs, rollout_length=12, seed=seed, hidden_sizes=(16,), lstm_size=8,
                           **kwargs)
    weights = {name: value.numpy() for name, value in random_weights(worker.model, seed).items()}
    worker.sample(PublishedWeights(0, [weights]))
    return worker, [worker.sample()[0] for _ in range(calls)]


def tensors(rollout: dict) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(value) for name, value in rollout.items()}


def step_by_step(model, rollout: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ground truth, written plainly: each env's steps one at a time from the stored state (zeros and no previous
    action or reward where an episode starts), and each final observation one step on from the state after its
    episode's last step, with that step's action and reward as inputs."""
    T, B = rollout["reward"].shape
    finals = {(int(t), int(b)): k for k, (t, b) in enumerate(rollout["final_at"])}
    params = np.zeros(rollout["behaviour"].shape, np.float32)
    values, final_values = np.zeros((T + 1, B), np.float32), np.zeros((T, B), np.float32)

    def one_step(obs, action, reward, state):
        p, v, state = model(torch.as_tensor(obs)[None, None], torch.as_tensor(action)[None, None],
                            torch.tensor([[reward]], dtype=torch.float32), state)
        return p[0, 0].numpy(), float(v[0, 0]), state

    with torch.no_grad():
        for b in range(B):
            state = (torch.from_numpy(rollout["state_h"][b : b + 1]), torch.from_numpy(rollout["state_c"][b : b + 1]))
            for t in range(T + 1):
                if t == 0:
                    action, reward = rollout["prev_action"][0, b], rollout["prev_reward"][0, b]
                elif rollout["first"][t, b]:
                    action, reward, state = np.zeros_like(rollout["action"][0, b]), 0.0, model.initial_state(1)
                else:
                    action, reward = rollout["action"][t - 1, b], rollout["reward"][t - 1, b]
                p, values[t, b], state = one_step(rollout["obs"][t, b], action, reward, state)
                if t < T:
                    params[t, b] = p
                if (t, b) in finals:
                    _, final_values[t, b], _ = one_step(rollout["final_obs"][finals[t, b]], rollout["action"][t, b],
                                                        rollout["reward"][t, b], state)
    return params, values, final_values


@pytest.mark.parametrize("env, num_finals", [(FRAMES, 10), ("Pendulum-v1", 0)])  # Pendulum: Box actions
def test_the_loss_unrolls_the_core_as_the_worker_ran_it(env, num_finals):
    """With the worker's weights, the learner's unroll gives the behaviour parameters the worker sampled from; its
    values and final values are the step-by-step loop's."""
    worker, batches = rollouts(env, num_envs=4, calls=3)
    assert sum(len(r["final_at"]) for r in batches) >= num_finals
    for rollout in batches:
        with torch.no_grad():
            params, values, final_values = evaluate_rollout(worker.model, tensors(rollout))
        want_params, want_values, want_final_values = step_by_step(worker.model, rollout)
        np.testing.assert_allclose(params.numpy(), rollout["behaviour"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(params.numpy(), want_params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(values.numpy(), want_values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(final_values.numpy(), want_final_values, rtol=1e-5, atol=1e-6)
        cut = np.zeros_like(rollout["truncated"])
        cut[tuple(rollout["final_at"].T)] = True
        assert not final_values.numpy()[~cut].any()


def test_a_joined_rollout_evaluates_as_its_parts_side_by_side():
    worker, (first,) = rollouts(FRAMES, num_envs=3, calls=1)
    _, (second,) = rollouts(FRAMES, num_envs=2, calls=1, seed=1)
    assert len(first["final_at"]) and len(second["final_at"])
    with torch.no_grad():
        joined = evaluate_rollout(worker.model, tensors(join_rollouts([first, second])))
        parts = zip(evaluate_rollout(worker.model, tensors(first)), evaluate_rollout(worker.model, tensors(second)))
    for got, (a, b) in zip(joined, parts):
        torch.testing.assert_close(got, torch.cat([a, b], dim=1))


def test_gradients_flow_through_the_unroll_into_the_lstm():
    worker, (rollout,) = rollouts(FRAMES, num_envs=2, calls=1)
    params, values, _ = evaluate_rollout(worker.model, tensors(rollout))
    (params.sum() + values.sum()).backward()
    assert worker.model.core.lstm.weight_hh_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("algo", ["impala", "a3c"])
def test_plans_train_a_recurrent_actor_critic(algo, make_plan):
    plan = make_plan(algo, use_lstm=True, lstm_size=32)
    results = [plan.train_step() for _ in range(2)]
    assert results[-1]["learner_updates"] >= 2 and math.isfinite(results[-1]["loss"])
    assert math.isfinite(results[-1]["entropy"])
    weights = plan.policy_weights().fetch()
    assert weights["core.lstm.weight_hh_l0"].shape == (4 * 32, 32)


def test_impala_with_an_lstm_learns_cartpole(make_plan):
    """A short learning check with the classic-control preset (its lstm_size and reward_scale): 150 took about 200
    updates, 3-4 s of training, on 2 shared cores."""
    plan = make_plan("impala", use_lstm=True)
    deadline = time.time() + 90
    best = -math.inf
    while time.time() < deadline and best < 150:
        result = plan.train_step()
        if not math.isnan(result["episode_return_mean"]):
            best = max(best, result["episode_return_mean"])
    assert best >= 150, f"mean return over the last 100 episodes only reached {best:.1f}"


def test_a_recurrent_actor_critic_checkpoint_acts_with_memory_and_resets_between_episodes(tmp_path):
    config = build_config(ImpalaConfig, {"env": COUNTDOWN, "hidden_sizes": [16], "use_lstm": True, "lstm_size": 16})
    weights = random_weights(make_policy("impala", config).model, seed=0)
    weights["policy.bias"].zero_()  # the actions follow the features, not one favourite
    save_state({"algo": "impala", "config": config.to_dict(), "plan": {"learner": {"model": weights}}},
               tmp_path / "checkpoint_000000")
    policy = rayrl.load_policy(tmp_path, seed=0)
    obs = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    prev_reward = np.concatenate([[0.0], np.arange(7)]).astype(np.float32)
    policy.reset()
    actions = [int(policy.act(o, prev_reward=r)) for o, r in zip(obs, prev_reward)]
    with torch.no_grad():  # the whole episode in one unroll, from a zero state, no previous action or reward
        params, _, _ = policy.model(torch.from_numpy(obs)[:, None], torch.tensor([0] + actions[:-1])[:, None],
                                    torch.from_numpy(prev_reward)[:, None], policy.model.initial_state(1))
    assert actions == params[:, 0].argmax(-1).tolist()  # greedy: the distribution's mode
    memoryless = []
    for o in obs:
        policy.reset()
        memoryless.append(int(policy.act(o)))
    assert memoryless[0] == actions[0] and memoryless != actions
    policy.reset()
    sampled = [int(policy.act(obs[0], stochastic=True)) for _ in range(30)]
    assert len(set(sampled)) > 1


def test_a_recurrent_gaussian_policy_keeps_its_actions_to_the_bounds():
    config = build_config(ImpalaConfig, {"env": "Pendulum-v1", "hidden_sizes": [16], "use_lstm": True,
                                         "lstm_size": 16})
    policy = make_policy("impala", config, seed=0)
    policy.set_weights(random_weights(policy.model, seed=1))
    policy.reset()
    actions = np.stack([policy.act(np.zeros((5, 3), np.float32), stochastic=True, prev_reward=-1.0)
                        for _ in range(4)])
    assert actions.shape == (4, 5, 1) and np.all(np.abs(actions) <= 2.0) and np.unique(actions).size > 10


@pytest.mark.parametrize("config_cls", [ImpalaConfig, A3CConfig])
def test_lstm_size_must_be_positive(config_cls):
    with pytest.raises(RayrlError, match="bad value for config key 'lstm_size'") as info:
        build_config(config_cls, {"use_lstm": True, "lstm_size": 0})
    assert "\n" not in str(info.value)
