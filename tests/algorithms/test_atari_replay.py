"""DQN's and Ape-X's plans on Pong: the workers send frame chunks and every replay shard stores each frame once."""

from __future__ import annotations

import time

import pytest

from rayrl.algorithms import registry
from rayrl.config import build_config

FRAME_BYTES = 84 * 84


@pytest.mark.parametrize("algo, shards", [("dqn", "replay"), ("apex", "shards")])
def test_pong_replay_costs_about_a_frame_per_transition(ray_session, algo, shards):
    spec = registry.get(algo)
    overrides = {"env": "ALE/Pong-v5", "report_seconds": 0.5, "num_workers": 1, "num_envs_per_worker": 2,
                 "rollout_length": 20, "buffer_size": 4_000, "learning_starts": 200, "batch_size": 32}
    if algo == "apex":
        overrides["num_replay_shards"] = 2  # fed in turns by the one worker
    plan = spec.plan_cls(build_config(spec.config_cls, spec.preset_for("ALE/Pong-v5"), overrides))
    actors = getattr(plan, shards)
    actors = actors if isinstance(actors, list) else [actors]
    try:
        deadline = time.time() + 60
        while True:  # until every shard has been sampled: each one got its share of learning_starts
            plan.train_step()
            stats = ray_session.get([actor.stats.remote() for actor in actors])
            if all(s["samples"] > 0 for s in stats) or time.time() > deadline:
                break
        for s in stats:
            assert s["inserts"] > 0 and s["samples"] > 0
            # Preallocated for its whole capacity: a frame plus some 50 bytes a slot. Whole obs + next_obs: 8 frames.
            assert s["nbytes"] <= 1.1 * FRAME_BYTES * s["capacity"]
    finally:
        plan.stop()
