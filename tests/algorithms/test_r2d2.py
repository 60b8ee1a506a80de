"""R2D2's own checks (the ones every plan shares are in test_plans.py): the sequence worker stores the state its
actor had (Acrobot: long episodes), burn-in from that stored state recovers the actor's state, a recurrent checkpoint acts with memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rayrl
from rayrl.policy import make_policy
from rayrl.algorithms.r2d2.config import R2D2Config
from rayrl.algorithms.r2d2.loss import burn_in_state
from rayrl.checkpoint import save_state
from rayrl.components.sequence_worker import SequenceWorker
from rayrl.config import build_config
from rayrl.core import PublishedWeights
from rayrl.errors import RayrlError

L, PERIOD, B = 12, 6, 4


def make_worker(**kwargs) -> SequenceWorker:
    return SequenceWorker(**{"env": "Acrobot-v1", "num_envs": B, "rollout_length": 30, "seed": 0,
                             "hidden_sizes": (16,), "dueling": True, "lstm_size": 16, "sequence_length": L,
                             "sequence_period": PERIOD, "epsilon": 0.3, **kwargs})


def sequences(worker: SequenceWorker, calls: int) -> dict[str, torch.Tensor]:
    batches = [worker.sample()[0] for _ in range(calls)]
    return {name: torch.from_numpy(np.concatenate([b[name] for b in batches])) for name in batches[0]}


def perturbed(model: torch.nn.Module, scale: float, seed: int) -> PublishedWeights:
    generator = torch.Generator().manual_seed(seed)
    return PublishedWeights(1, [{name: (value + scale * torch.randn(value.shape, generator=generator)).numpy()
                                 for name, value in model.state_dict().items()}])


def successors(batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of sequences where j starts PERIOD steps into i, within i's episode: j's stored state is the
    actor's own state at step PERIOD of i (sequences of an env come oldest first, episodes never cross)."""
    obs = batch["obs"].numpy()
    pairs = [(i, j) for i in range(len(obs) - 1) for j in (i + 1,)
             if batch["mask"][i, PERIOD:].all() and np.array_equal(obs[i, PERIOD:], obs[j, :L - PERIOD])]
    return tuple(np.array(x) for x in zip(*pairs))


def test_sequences_carry_the_actor_s_state_and_inputs():
    worker = make_worker()
    batch = sequences(worker, 3)
    assert batch["obs"].shape[1:] == (L, 6) and batch["state_h"].shape[1:] == (16,)
    first, nxt = successors(batch)
    assert len(first) >= 10
    # With the actor's own weights, an unroll from the stored state reproduces the actor's state exactly.
    h, c = burn_in_state(worker.model, {k: v[first] for k, v in batch.items()}, burn_in=PERIOD)
    torch.testing.assert_close(h, batch["state_h"][nxt], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(c, batch["state_c"][nxt], rtol=1e-4, atol=1e-5)
    # The previous action and reward are the sequence's own, shifted by one step.
    real = batch["mask"][:, 1:] & batch["mask"][:, :-1]
    assert torch.equal(batch["prev_action"][:, 1:][real], batch["action"][:, :-1][real])


def test_burn_in_from_the_stored_state_brings_the_learner_closest_to_the_actor_s_state():
    """R2D2, sec. 3: a learner whose weights moved on from the actor's starts its trained steps from a state
    nearer the actor's own when it burns in from the stored state than from a zero state, with or without
    burn-in."""
    worker = make_worker()
    batch = sequences(worker, 6)
    first, nxt = successors(batch)
    mid_episode = batch["state_h"][first].abs().sum(dim=1) > 0  # those starting at an episode start hold zeros
    first, nxt = first[mid_episode], nxt[mid_episode]
    assert len(first) >= 10
    items = {k: v[first] for k, v in batch.items()}
    learner = make_worker().model  # the same architecture, its weights moved away from the actor's
    learner.load_state_dict({k: torch.tensor(v) for k, v in perturbed(worker.model, 0.01, seed=1).fetch().items()})
    actor = torch.cat([batch["state_h"][nxt], batch["state_c"][nxt]], dim=1)

    def distance(state) -> float:
        return float((torch.cat(state, dim=1) - actor).norm(dim=1).mean())

    stored = distance(burn_in_state(learner, items, burn_in=PERIOD))
    zero_burned_in = distance(burn_in_state(learner, items, burn_in=PERIOD, stored_state=False))
    zero = float(actor.norm(dim=1).mean())  # a zero state at the first trained step, no burn-in
    assert stored < zero_burned_in < zero
    assert stored < 0.5 * zero


def test_a_recurrent_checkpoint_acts_with_memory_and_resets_between_episodes(tmp_path):
    config = build_config(R2D2Config, {"hidden_sizes": [16], "lstm_size": 16})
    policy = make_policy("r2d2", config, seed=0)
    save_state({"algo": "r2d2", "config": config.to_dict(),
                "plan": {"learner": {"model": {f"online.{k}": v for k, v in policy.model.state_dict().items()}}}},
               tmp_path / "checkpoint_000000")
    policy = rayrl.load_policy(tmp_path)
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    rewards = np.arange(6, dtype=np.float32)
    policy.reset()
    actions = [int(policy.act(o, prev_reward=r)) for o, r in zip(obs, np.concatenate([[0.0], rewards[:-1]]))]
    with torch.no_grad():  # the whole episode in one unroll, from a zero state, no previous action or reward
        prev_action = torch.tensor([0] + actions[:-1]).unsqueeze(1)
        prev_reward = torch.from_numpy(np.concatenate([[0.0], rewards[:-1]]).astype(np.float32)).unsqueeze(1)
        q, _ = policy.model(torch.from_numpy(obs).unsqueeze(1), prev_action, prev_reward,
                            policy.model.initial_state(1))
    assert actions == q.squeeze(1).argmax(-1).tolist()
    policy.reset()
    assert int(policy.act(obs[0])) == actions[0]


@pytest.mark.parametrize("overrides", [{"burn_in": 79}, {"sequence_period": 81}, {"samples_per_insert": 0},
                                       {"priority_eta": 1.5}, {"lstm_size": 0}])
def test_bad_config_values_are_one_line_errors(overrides):
    with pytest.raises(RayrlError, match="bad value for config key"):
        build_config(R2D2Config, overrides)
