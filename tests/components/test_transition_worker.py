"""n-step transitions against a per-item loop, and the TransitionWorker's chunking, episode ends and weight pulls."""

import numpy as np
import pytest
import torch

from rayrl.components.transition_worker import TransitionWorker, n_step_transitions
from rayrl.core import PublishedWeights
from rayrl.models import QNetwork
from rayrl.replay import LinearSchedule

COUNTDOWN = "tests.envs.dummy_env:CountdownEnv"


def slow_n_step_transitions(obs, action, reward, terminated, truncated, n, gamma):
    """Ground truth: one start and one env at a time, walking the window step by step."""
    out = {"obs": [], "action": [], "reward": [], "discount": [], "next_obs": []}
    L, B = reward.shape
    for t in range(L - n + 1):
        for b in range(B):
            total, discount, cut = 0.0, 1.0, False
            for k in range(n):
                total += discount * reward[t + k, b]
                discount *= gamma
                if terminated[t + k, b]:
                    discount = 0.0
                    break
                if truncated[t + k, b]:
                    cut = True
                    break
            if not cut:
                for name, value in [("obs", obs[t, b]), ("action", action[t, b]), ("reward", total),
                                    ("discount", discount), ("next_obs", obs[t + n, b])]:
                    out[name].append(value)
    return {name: np.array(values) for name, values in out.items()}


@pytest.mark.parametrize("n", [1, 3, 5])
def test_n_step_transitions_match_the_per_item_loop(n):
    rng = np.random.default_rng(n)
    L, B, gamma = 12, 6, 0.9
    chunk = {"obs": rng.normal(size=(L + 1, B, 2)).astype(np.float32), "action": rng.integers(4, size=(L, B)),
             "reward": rng.normal(size=(L, B)).astype(np.float32),
             "terminated": rng.random((L, B)) < 0.15, "truncated": rng.random((L, B)) < 0.1}
    time_major = n_step_transitions(**chunk, n=n, gamma=gamma)
    assert all(value.shape[:2] == (L - n + 1, B) for value in time_major.values())
    valid = time_major.pop("valid")
    fast = {name: value[valid] for name, value in time_major.items()}  # what flat mode emits
    slow = slow_n_step_transitions(**chunk, n=n, gamma=gamma)
    assert fast.keys() == slow.keys()
    for name in fast:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert fast["reward"].dtype == fast["discount"].dtype == np.float32


def make_worker(env=COUNTDOWN, **kwargs) -> TransitionWorker:
    return TransitionWorker(**{"env": env, "num_envs": 2, "rollout_length": 5, "seed": 0, "hidden_sizes": (8,),
                               "dueling": False, "n_step": 3, "gamma": 0.5, "epsilon": 1.0,
                               "env_kwargs": {"episode_length": 4}, **kwargs})


def test_chunks_join_up_as_one_long_rollout():
    """Steps whose windows are open at the end of a call are emitted by the next one, exactly once."""
    short, long = make_worker(), make_worker(rollout_length=15)
    pieces = [short.sample()[0] for _ in range(3)]
    whole = long.sample()[0]
    assert [len(piece["action"]) for piece in pieces] == [3 * 2, 5 * 2, 5 * 2]
    for name, value in whole.items():
        np.testing.assert_array_equal(np.concatenate([piece[name] for piece in pieces]), value, err_msg=name)


def test_countdown_episodes_give_the_expected_transitions():
    """CountdownEnv: obs = [step in episode, episode], reward = action, the 4th step terminates."""
    worker = make_worker()
    out = [worker.sample() for _ in range(4)]
    t = {name: np.concatenate([o[0][name] for o in out]) for name in out[0][0]}
    step = t["obs"][:, 0]
    bootstraps = step == 0  # only from an episode's first step do 3 steps stay inside a 4-step episode
    np.testing.assert_array_equal(t["discount"][bootstraps], 0.125)
    np.testing.assert_array_equal(t["discount"][~bootstraps], 0.0)
    np.testing.assert_array_equal(t["next_obs"][bootstraps], t["obs"][bootstraps] + [3, 0])
    assert np.all(t["reward"] >= t["action"])  # the action's reward plus discounted non-negative ones
    assert sum(len(o[1].returns) for o in out) == 2 * 20 // 4


def test_windows_cut_by_a_time_limit_are_dropped():
    worker = make_worker(env_kwargs={"episode_length": 4, "ends_by_truncation": True})
    t = worker.sample()[0]
    assert np.all(t["obs"][:, 0] == 0) and np.all(t["discount"] == 0.125)


def test_epsilon_schedule_and_greedy_actions_follow_pulled_weights():
    worker = make_worker(epsilon=LinearSchedule(1.0, 0.0, 20))
    worker.sample()
    assert worker.current_epsilon() == 0.5
    worker.sample()
    assert worker.current_epsilon() == 0.0
    model = QNetwork(worker.envs.single_observation_space, worker.envs.single_action_space, (8,), dueling=False)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias[7] = 1.0  # every observation's greedy action is 7
    weights = PublishedWeights(3, [{k: v.numpy().copy() for k, v in model.state_dict().items()}])
    transitions, stats = worker.sample(weights)
    assert stats.policy_version == 3
    assert np.all(transitions["action"][-6:] == 7)  # the steps taken after the pull


def zero_weights(worker) -> PublishedWeights:
    """Weights under which every action has Q = 0, so the greedy action is always 0."""
    model = QNetwork(worker.envs.single_observation_space, worker.envs.single_action_space, (8,), dueling=False)
    return PublishedWeights(1, [{k: np.zeros(v.shape, np.float32) for k, v in model.state_dict().items()}])


def test_one_epsilon_per_env():
    worker = make_worker(epsilon=(0.0, 1.0), rollout_length=50)
    actions = worker.sample(zero_weights(worker))[0]["action"].reshape(-1, 2)  # time-major over (t, env)
    assert np.all(actions[:, 0] == 0) and np.any(actions[:, 1] != 0)
    with pytest.raises(ValueError, match="one epsilon per env"):
        make_worker(epsilon=(0.1, 0.2, 0.3))


def test_initial_priorities_are_the_worker_s_own_n_step_td_errors():
    """No target network on the worker: its own weights select and evaluate the bootstrap action (a max)."""
    worker = make_worker(initial_priorities=True)
    t = worker.sample()[0]
    with torch.no_grad():
        q_tm1 = worker.model(torch.from_numpy(t["obs"])).numpy()
        q_t = worker.model(torch.from_numpy(t["next_obs"])).numpy()
    td = t["reward"] + t["discount"] * q_t.max(1) - q_tm1[np.arange(len(q_tm1)), t["action"]]
    np.testing.assert_allclose(t["priority"], np.abs(td) + 1e-6, rtol=1e-5, atol=1e-6)
    assert "priority" not in make_worker().sample()[0]


def test_n_step_longer_than_the_rollout_is_an_error():
    with pytest.raises(ValueError, match="n_step"):
        make_worker(n_step=6)
