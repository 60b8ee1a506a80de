"""R2D3's own checks: demonstrations cut into sequences from a zero state, batches that mix them in at the demo
ratio with priorities back to both replays, and learning deep sea from a few expert episodes where R2D2 cannot."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from rayrl.algorithms.r2d3.config import R2D3Config
from rayrl.components.replay_feed import DemoMixedFeed, ReplayFeed
from rayrl.components.replay_shard import ReplayShard
from rayrl.config import build_config
from rayrl.demos import record_demos
from rayrl.envs.experts import deep_sea_expert
from rayrl.errors import RayrlError
from rayrl.replay.sequence_adder import episode_sequences

L, PERIOD, H = 6, 3, 5


def episode(length: int, *, terminated: bool, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"obs": rng.normal(size=(length + 1, 2)).astype(np.float32), "action": rng.integers(3, size=length),
            "reward": rng.normal(size=length).astype(np.float32),
            "terminated": np.arange(length) == length - 1 if terminated else np.zeros(length, bool),
            "truncated": np.zeros(length, bool) if terminated else np.arange(length) == length - 1}


def test_demonstrations_become_sequences_from_a_zero_state():
    episodes = [episode(7, terminated=True, seed=0), episode(4, terminated=False, seed=1)]
    items = episode_sequences(episodes, sequence_length=L, period=PERIOD, frame_stack=None, state_size=H)
    # Starts 0, 3, 6 of the first episode; 0, 3 of the second (its final observation is step 4, no start there).
    assert len(items["action"]) == 5
    assert not items["state_h"].any() and not items["state_c"].any()
    first = episodes[0]
    np.testing.assert_array_equal(items["obs"][1, :4], first["obs"][3:7])
    np.testing.assert_array_equal(items["prev_action"][1, :4], first["action"][2:6])
    assert items["mask"][1].tolist() == [True] * 4 + [False] * 2 and items["terminated"][1, 3]
    second = items["obs"][3], items["mask"][3]  # the truncated episode: its final observation is a real step
    np.testing.assert_array_equal(second[0][:5], episodes[1]["obs"])
    assert second[1].tolist() == [True] * 5 + [False] and not items["terminated"][3].any()


def test_batches_mix_in_demonstrations_at_the_ratio_and_priorities_go_back_to_both(ray_session):
    episodes = [episode(30, terminated=True, seed=s) for s in range(4)]
    items = episode_sequences(episodes, sequence_length=L, period=PERIOD, frame_stack=None, state_size=H)
    shard = ray_session.remote(num_cpus=0)(ReplayShard)
    agent = shard.remote(0, 1000, priority_exponent=0.9, sequence_period=PERIOD)
    demos = shard.remote(1, 1000, priority_exponent=0.9, sequence_period=PERIOD)
    ray_session.get([agent.add.remote({**items, "reward": np.zeros_like(items["reward"])}),
                     demos.add.remote({**items, "reward": np.ones_like(items["reward"])})])
    feed = DemoMixedFeed(ReplayFeed([agent], batch_size=32), demos, demo_ratio=0.25, seed=0)
    demo_rows = []
    for step in range(40):
        token, batch = feed.next(step)
        from_demos = batch["reward"].any(axis=1)  # real demonstration steps carry reward 1
        assert not from_demos[:32 - from_demos.sum()].any()  # the demonstrations take the batch's last rows
        demo_rows.append(int(from_demos.sum()))
        feed.update_priorities(token, batch["indices"], batch["keys"], np.full(32, 2.0))
    assert sum(demo_rows) / (40 * 32) == pytest.approx(0.25, abs=0.05)
    time.sleep(0.5)
    stats = ray_session.get([agent.stats.remote(), demos.stats.remote()])
    assert stats[1]["priority_updates"] == sum(demo_rows)
    assert stats[0]["priority_updates"] == 40 * 32 - sum(demo_rows)


def test_without_demonstrations_r2d3_is_a_one_line_error():
    config = build_config(R2D3Config, {"env": "CartPole-v1"})
    with pytest.raises(RayrlError, match="set demos"):
        config.check_env_spaces(None, None)
    with pytest.raises(RayrlError, match="bad value for config key"):
        build_config(R2D3Config, {"demo_ratio": 0})


def best_return(plan, seconds: float, target: float) -> float:
    deadline, best = time.time() + seconds, -math.inf
    while time.time() < deadline and best < target:
        result = plan.train_step()
        if not math.isnan(result["episode_return_mean"]):
            best = max(best, result["episode_return_mean"])
    return best


def test_r2d3_learns_deep_sea_from_20_expert_episodes_where_r2d2_does_not(make_plan, tmp_path):
    """Deep sea of size 10 rewards only the one path that goes right at every step, which costs a little each
    time: epsilon-greedy almost never finds it (2^-10 per random episode), an expert's episodes show it."""
    env, env_kwargs = "rayrl/DeepSea-v0", {"size": 10}
    demos = record_demos(str(tmp_path / "deep_sea"), episodes=20, env=env, policy=deep_sea_expert,
                         env_kwargs=env_kwargs)
    assert demos["return_mean"] == pytest.approx(0.99)
    r2d3 = make_plan("r2d3", env, env_kwargs=env_kwargs, demos=demos["path"])
    assert r2d3.num_demo_sequences == 20
    start = time.time()
    assert best_return(r2d3, 60, target=0.9) >= 0.9
    r2d3_seconds = time.time() - start
    r2d3.stop()
    r2d2 = make_plan("r2d2", env, env_kwargs=env_kwargs, burn_in=0)
    # The same time (at least 15 s), so the two compare at equal cost.
    assert best_return(r2d2, max(r2d3_seconds, 15), target=0.9) < 0.1
