"""TransitionWorker's frame chunks: FrameStackStorage rebuilds exactly the stacks the env showed, across resets,
time limits and calls; priorities from the whole stacks; real Atari frames cost about one frame per transition."""

import numpy as np
import pytest
import torch

from rayrl.components.replay_shard import ReplayShard
from rayrl.components.transition_worker import TransitionWorker, n_step_transitions
from rayrl.envs import VectorEnv
from rayrl.replay import FrameStackStorage

FRAMES = "tests.envs.dummy_env:StackedFramesEnv"
PONG = "ALE/Pong-v5"


@pytest.fixture
def env_log(monkeypatch) -> dict[str, list]:
    """Every observation, action, reward and episode end the VectorEnvs made from now on return, in order."""
    log = {name: [] for name in ("obs", "action", "reward", "terminated", "truncated")}
    reset, step = VectorEnv.reset, VectorEnv.step

    def logged_reset(self, seed=None):
        log["obs"].append(reset(self, seed))
        return log["obs"][-1]

    def logged_step(self, actions):
        out = step(self, actions)
        log["action"].append(np.array(actions))
        for name, value in zip(("obs", "reward", "terminated", "truncated"), out):
            log[name].append(value)
        return out

    monkeypatch.setattr(VectorEnv, "reset", logged_reset)
    monkeypatch.setattr(VectorEnv, "step", logged_step)
    return log


def make_worker(env=FRAMES, **kwargs) -> TransitionWorker:
    return TransitionWorker(**{"env": env, "num_envs": 3, "rollout_length": 5, "seed": 0, "hidden_sizes": (8,),
                               "dueling": False, "n_step": 3, "gamma": 0.5, "epsilon": 1.0, **kwargs})


def assert_storage_shows_what_the_env_showed(worker, env_log, calls: int) -> FrameStackStorage:
    """Feed ``calls`` chunks to a storage; the transitions it stores, read back in order, are exactly the n-step
    transitions of the logged env steps (those a time limit cut left out), stacks included."""
    storage = FrameStackStorage(10_000, stack=worker.frame_stack)
    stored = []
    for _ in range(calls):
        chunk, _ = worker.sample()
        assert chunk["frames"].shape[0] == worker.frame_stack - 1 + len(chunk["reward"]) + worker.n_step
        stored.append(storage.get(storage.add(chunk).slots))
    expected = n_step_transitions(**{name: np.stack(values) for name, values in env_log.items()},
                                  n=worker.n_step, gamma=worker.gamma)
    valid = expected.pop("valid")
    assert not valid.all() and valid.any()  # time limits cut some windows
    for name, value in expected.items():
        np.testing.assert_array_equal(np.concatenate([batch[name] for batch in stored]), value[valid], name)
    return storage


@pytest.mark.parametrize("n_step", [1, 3])
def test_stored_stacks_are_the_env_s_own_over_resets_and_time_limits(env_log, n_step):
    worker = make_worker(n_step=n_step)
    assert worker.frame_stack == 4
    storage = assert_storage_shows_what_the_env_showed(worker, env_log, calls=12)
    # Each chunk continued the last: per stream its reset stack's 4 frames, then one frame per env step.
    assert storage.frames_written == 3 * (4 + 12 * 5)


def test_chunk_priorities_are_the_td_errors_of_the_whole_stacks():
    worker = make_worker(initial_priorities=True)
    storage = FrameStackStorage(1_000, stack=4)
    for _ in range(3):
        chunk, _ = worker.sample()
        assert chunk["priority"].shape == chunk["reward"].shape
        inserted = storage.add(chunk)
        t = {name: torch.from_numpy(value) for name, value in storage.get(inserted.slots).items()}
        with torch.no_grad():
            q_tm1, q_t = worker.model(t["obs"]).numpy(), worker.model(t["next_obs"]).numpy()
        td = t["reward"].numpy() + t["discount"].numpy() * q_t.max(1) - q_tm1[np.arange(len(q_tm1)), t["action"]]
        np.testing.assert_allclose(inserted.priorities, np.abs(td) + 1e-6, rtol=1e-5, atol=1e-6)


def test_pong_stacks_are_rebuilt_exactly_across_a_time_limit(env_log):
    """Real ALE frames; a game cut after 100 agent steps, so the run crosses an autoreset."""
    worker = make_worker(PONG, num_envs=2, rollout_length=20, env_kwargs={"max_num_frames_per_episode": 400})
    assert worker.frame_stack == 4
    assert_storage_shows_what_the_env_showed(worker, env_log, calls=7)


def test_a_shard_fed_by_a_pong_worker_stores_about_one_frame_per_transition():
    """Ape-X's shape of data (50-step chunks, n = 3, initial priorities) into a prioritized shard past one
    wrap-around: all its arrays (frames, per-transition arrays, links, keys, sum tree) per stored transition."""
    worker = make_worker(PONG, num_envs=4, rollout_length=50, initial_priorities=True)
    shard = ReplayShard(0, 2_000, priority_exponent=0.6, frame_stack=worker.frame_stack)
    transitions = 0
    for _ in range(15):  # 3,000 env steps
        chunk, _ = worker.sample()
        transitions += int(chunk["valid"].sum())
        assert shard.add(chunk)
    storage = shard.buffer.storage
    assert storage.frames_written <= 1.01 * transitions + 4 * (3 + 3)
    assert shard.buffer.nbytes / shard.size() <= 1.1 * 84 * 84
