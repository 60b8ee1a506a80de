"""RolloutWorker used directly (no Ray): the rollout contract of rayrl.core, weight pulls, episode statistics."""

import numpy as np
import pytest
import torch

from rayrl.components.rollout_worker import RolloutWorker, join_rollouts
from rayrl.core import EpisodeStats, PublishedWeights
from rayrl.models import ActorCritic

T, B = 5, 3


def make_worker(env: str = "CartPole-v1", **kwargs) -> RolloutWorker:
    return RolloutWorker(**{"env": env, "num_envs": B, "rollout_length": T, "seed": 0, "hidden_sizes": (16,),
                            **kwargs})


def published(worker: RolloutWorker, version: int, seed: int) -> PublishedWeights:
    """Weights of a differently initialised model, as read-only numpy arrays like those from the object store."""
    torch.manual_seed(seed)
    model = ActorCritic(worker.envs.single_observation_space, worker.envs.single_action_space, (16,))
    weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for array in weights.values():
        array.flags.writeable = False
    return PublishedWeights(version, [weights])


def assert_model_has(worker: RolloutWorker, weights: PublishedWeights):
    state = worker.model.state_dict()
    assert state.keys() == weights.fetch().keys()
    for key, value in weights.fetch().items():
        np.testing.assert_array_equal(state[key].numpy(), value)


@pytest.mark.parametrize(
    "env, obs_shape, action_shape, action_dtype, num_params",
    [("CartPole-v1", (4,), (), np.int64, 2), ("Pendulum-v1", (3,), (1,), np.float32, 2)],
)
def test_rollout_has_the_documented_keys_shapes_and_dtypes(env, obs_shape, action_shape, action_dtype, num_params):
    rollout, stats = make_worker(env).sample()
    expected = {
        "obs": ((T + 1, B, *obs_shape), np.float32),
        "action": ((T, B, *action_shape), action_dtype),
        "reward": ((T, B), np.float32),
        "terminated": ((T, B), np.bool_),
        "truncated": ((T, B), np.bool_),
        "behaviour": ((T, B, num_params), np.float32),
        "final_obs": ((0, *obs_shape), np.float32),  # no time limit within the first T steps
        "final_at": ((0, 2), np.int64),
    }
    assert {k: (v.shape, v.dtype) for k, v in rollout.items()} == expected
    assert isinstance(stats, EpisodeStats) and stats.env_steps == T * B


def test_cartpole_actions_are_valid_and_both_are_taken():
    worker = make_worker(rollout_length=40)
    actions = worker.sample()[0]["action"]
    assert set(np.unique(actions)) == {0, 1}


def test_each_rollout_starts_where_the_last_one_ended():
    worker = make_worker()
    previous, _ = worker.sample()
    for _ in range(3):
        rollout, _ = worker.sample()
        np.testing.assert_array_equal(rollout["obs"][0], previous["obs"][T])
        previous = rollout


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_behaviour_params_are_the_models_output_for_each_observation(env):
    worker = make_worker(env)
    worker.sample(published(worker, 0, seed=5))
    rollout, _ = worker.sample()
    with torch.no_grad():
        params, _ = worker.model(torch.from_numpy(rollout["obs"][:T].reshape(T * B, -1)))
    np.testing.assert_allclose(rollout["behaviour"], params.numpy().reshape(T, B, -1), rtol=1e-5, atol=1e-6)


def test_same_seed_gives_the_same_rollouts_and_another_seed_does_not():
    # One worker at a time: the worker seeds torch's global generator, which its sampling then draws from.
    def two_rollouts(seed: int) -> list[dict]:
        worker = make_worker(seed=seed)
        return [worker.sample()[0] for _ in range(2)]

    first, again, other = two_rollouts(3), two_rollouts(3), two_rollouts(4)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(first[0]["obs"], other[0]["obs"])


def test_pendulum_actions_are_stored_before_clipping_to_the_bounds():
    worker = make_worker("Pendulum-v1")
    weights = published(worker, 0, seed=0)
    bias = weights.fetch()["policy.bias"].copy()
    bias[0] = 5.0  # mean action 5, far above the bound of 2
    worker.sample(PublishedWeights(0, [{**weights.fetch(), "policy.bias": bias}]))
    actions = worker.sample()[0]["action"]
    assert actions.max() > 2.0 and np.isfinite(actions).all()


def test_weights_are_pulled_only_when_their_version_is_newer():
    worker = make_worker()
    v0, v3, stale, same = (published(worker, 0, 10), published(worker, 3, 11), published(worker, 2, 12),
                           published(worker, 3, 13))
    _, stats = worker.sample(v0)
    assert_model_has(worker, v0)
    assert stats.policy_version == 0
    _, stats = worker.sample(v3)
    assert_model_has(worker, v3)
    assert stats.policy_version == 3
    for ignored in (stale, same, None):
        _, stats = worker.sample(ignored)
        assert_model_has(worker, v3)
        assert stats.policy_version == 3


def test_pull_period_delays_pulls_of_newer_weights():
    worker = make_worker(pull_period_steps=2 * T * B)
    worker.sample()
    worker.sample()  # 2 T B env steps so far: the period has elapsed
    v1, v2 = published(worker, 1, 21), published(worker, 2, 22)
    assert worker.sample(v1)[1].policy_version == 1
    assert worker.sample(v2)[1].policy_version == 1  # only T B steps since the pull
    assert_model_has(worker, v1)
    assert worker.sample(v2)[1].policy_version == 2
    assert_model_has(worker, v2)


def test_the_first_pull_is_not_delayed_by_the_pull_period():
    worker = make_worker(pull_period_steps=100 * T * B)
    v0 = published(worker, 0, 30)
    assert worker.sample(v0)[1].policy_version == 0
    assert_model_has(worker, v0)


def test_finished_cartpole_episodes_report_positive_lengths_equal_to_their_returns():
    worker = make_worker(rollout_length=100)
    ended, returns, lengths = 0, [], []
    for _ in range(2):
        rollout, stats = worker.sample()
        ended += int((rollout["terminated"] | rollout["truncated"]).sum())
        returns += list(stats.returns)
        lengths += list(stats.lengths)
        np.testing.assert_array_equal(rollout["reward"], 1.0)
    assert len(lengths) == ended >= 5  # a near-uniform policy drops the pole within a few dozen steps
    assert min(lengths) > 0
    np.testing.assert_array_equal(returns, lengths)


COUNTDOWN = "tests.envs.dummy_env:CountdownEnv"


def test_episodes_cut_by_a_time_limit_leave_their_final_observation_beside_the_rollout():
    # Episodes of 3 steps, cut by a time limit; then the same episodes ended by termination instead.
    cut = make_worker(COUNTDOWN, num_envs=2, rollout_length=7,
                      env_kwargs={"episode_length": 3, "ends_by_truncation": True})
    rollout, _ = cut.sample()
    np.testing.assert_array_equal(rollout["final_at"], [[2, 0], [2, 1], [5, 0], [5, 1]])  # in step order
    np.testing.assert_array_equal(rollout["final_obs"][:, 0], 3)  # [steps taken, episodes started]: the cut state
    np.testing.assert_array_equal(rollout["final_obs"][2:, 1], rollout["final_obs"][:2, 1] + 1)
    for t, b in rollout["final_at"]:
        assert rollout["truncated"][t, b] and not rollout["terminated"][t, b]
        np.testing.assert_array_equal(rollout["obs"][t + 1, b, 0], 0)  # obs[t + 1] starts the next episode
    terminating = make_worker(COUNTDOWN, num_envs=1, rollout_length=7, env_kwargs={"episode_length": 3})
    rollout, _ = terminating.sample()
    assert rollout["terminated"].sum() == 2 and rollout["final_obs"].shape == (0, 2)


def test_joined_rollouts_shift_the_env_index_of_final_observations():
    worker = make_worker(COUNTDOWN, num_envs=2, rollout_length=4,
                         env_kwargs={"episode_length": 2, "ends_by_truncation": True})
    first, _ = worker.sample()
    second, _ = worker.sample()
    joined = join_rollouts([first, second])
    assert joined["obs"].shape == (5, 4, 2) and joined["reward"].shape == (4, 4)
    np.testing.assert_array_equal(joined["final_obs"], np.concatenate([first["final_obs"], second["final_obs"]]))
    for k, (t, b) in enumerate(joined["final_at"]):
        source, env = (first, b) if b < 2 else (second, b - 2)
        assert source["truncated"][t, env]
        np.testing.assert_array_equal(joined["obs"][t, b], source["obs"][t, env])
    np.testing.assert_array_equal(joined["final_at"][:, 1], [0, 1, 0, 1, 2, 3, 2, 3])
    assert join_rollouts([first]) is first


# A recurrent actor-critic (lstm_size): the rollout carries the core's inputs and its state at the first step.

H = 8


def recurrent_weights(worker: RolloutWorker, seed: int) -> PublishedWeights:
    """Random weights of the worker's recurrent model, large enough that its policy is far from uniform."""
    generator = torch.Generator().manual_seed(seed)
    return PublishedWeights(0, [{name: (0.5 * torch.randn(value.shape, generator=generator)).numpy()
                                 for name, value in worker.model.state_dict().items()}])


@pytest.mark.parametrize("env, obs_shape, action_shape, action_dtype, num_params",
                         [("CartPole-v1", (4,), (), np.int64, 2), ("Pendulum-v1", (3,), (1,), np.float32, 2)])
def test_recurrent_rollout_has_the_documented_keys_shapes_and_dtypes(env, obs_shape, action_shape, action_dtype,
                                                                    num_params):
    rollout, _ = make_worker(env, lstm_size=H).sample()
    expected = {
        "obs": ((T + 1, B, *obs_shape), np.float32),
        "first": ((T + 1, B), np.bool_),
        "action": ((T, B, *action_shape), action_dtype),
        "reward": ((T, B), np.float32),
        "terminated": ((T, B), np.bool_),
        "truncated": ((T, B), np.bool_),
        "prev_action": ((T + 1, B, *action_shape), action_dtype),
        "prev_reward": ((T + 1, B), np.float32),
        "state_h": ((B, H), np.float32),
        "state_c": ((B, H), np.float32),
        "behaviour": ((T, B, num_params), np.float32),
        "final_obs": ((0, *obs_shape), np.float32),
        "final_at": ((0, 2), np.int64),
    }
    assert {k: (v.shape, v.dtype) for k, v in rollout.items()} == expected
    assert rollout["first"][0].all() and not rollout["state_h"].any() and not rollout["state_c"].any()


@pytest.mark.parametrize("env, episode_starts", [("CartPole-v1", 3), ("Pendulum-v1", 0)])  # Pendulum: 200 steps
def test_a_recurrent_rollout_starts_from_the_worker_s_state_and_inputs_where_the_last_one_ended(env, episode_starts):
    """A plain step-by-step loop of the model over each rollout, from its stored state and with the inputs derived
    from its actions, rewards and episode starts, gives the behaviour parameters, and the state and inputs it ends
    with are the worker's own, stored as the next rollout's first."""
    worker = make_worker(env, lstm_size=H, rollout_length=30)
    worker.sample(recurrent_weights(worker, seed=1))
    rollouts = [worker.sample()[0] for _ in range(3)]
    assert sum(r["first"][1:].sum() for r in rollouts) >= episode_starts  # inside the rollouts
    for rollout, following in zip(rollouts, rollouts[1:]):
        h, c = (torch.from_numpy(rollout[name]) for name in ("state_h", "state_c"))
        assert not h[rollout["first"][0]].any() and not c[rollout["first"][0]].any()  # reset where obs[0] starts
        prev_action, prev_reward = rollout["prev_action"][0], rollout["prev_reward"][0]
        for t in range(31):
            starts = rollout["first"][t]
            if t > 0:
                prev_action, prev_reward = rollout["action"][t - 1].copy(), rollout["reward"][t - 1].copy()
                prev_action[starts], prev_reward[starts] = 0, 0.0
                reset = torch.from_numpy(starts)[:, None]
                h, c = torch.where(reset, 0.0, h), torch.where(reset, 0.0, c)
            np.testing.assert_array_equal(rollout["prev_action"][t], prev_action)
            np.testing.assert_array_equal(rollout["prev_reward"][t], prev_reward)
            if t == 30:
                break
            with torch.no_grad():
                params, (h, c) = worker.model.policy_step(torch.from_numpy(rollout["obs"][t]),
                                                          torch.from_numpy(prev_action),
                                                          torch.from_numpy(prev_reward), (h, c))
            np.testing.assert_allclose(rollout["behaviour"][t], params.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(following["obs"][0], rollout["obs"][30])
        np.testing.assert_array_equal(following["prev_action"][0], rollout["prev_action"][30])
        np.testing.assert_array_equal(following["prev_reward"][0], rollout["prev_reward"][30])
        np.testing.assert_allclose(following["state_h"], h.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(following["state_c"], c.numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(rollouts[-1]["state_c"]).max() > 0.1


def test_joined_recurrent_rollouts_join_the_state_along_its_env_axis():
    first = make_worker(lstm_size=H).sample()[0]
    other = make_worker(lstm_size=H, num_envs=2, seed=1)
    other.sample()
    second = other.sample()[0]  # a state that is not zeros
    joined = join_rollouts([first, second])
    assert joined["state_h"].shape == joined["state_c"].shape == (B + 2, H)
    assert joined["prev_action"].shape == joined["first"].shape == (T + 1, B + 2)
    for name in ("state_h", "state_c"):
        np.testing.assert_array_equal(joined[name], np.concatenate([first[name], second[name]]))
    for name in ("prev_action", "prev_reward", "first", "obs", "behaviour"):
        np.testing.assert_array_equal(joined[name], np.concatenate([first[name], second[name]], axis=1))
