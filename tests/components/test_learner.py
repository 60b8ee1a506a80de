"""Learner with the IMPALA loss on CPU: metrics, counters, joining batches, learning, lr annealing, state."""

import functools
import io
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.algorithms.impala.config import ImpalaConfig
from rayrl.algorithms.impala.loss import impala_loss
from rayrl.components.learner import Learner, learner_gpus
from rayrl.components.rollout_worker import join_rollouts
from rayrl.models import ActorCritic

T, B = 5, 3
OBS_SPACE, ACTION_SPACE = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2)
METRICS = {"policy_loss", "value_loss", "entropy", "mean_rho", "loss", "grad_norm", "lr"}


def make_learner(*, seed: int = 0, lr: float = 1e-3, optimizer: str = "rmsprop", **kwargs) -> Learner:
    torch.manual_seed(seed)
    config = ImpalaConfig(optimizer=optimizer, lr=lr)
    return Learner(
        model_fn=functools.partial(ActorCritic, OBS_SPACE, ACTION_SPACE, (16,)),
        loss_fn=functools.partial(impala_loss, config=config),
        optimizer=optimizer, lr=lr, optimizer_eps=0.01 if optimizer == "rmsprop" else 1e-8, join=join_rollouts,
        device="cpu", **kwargs,
    )


def make_batch(seed: int = 0, t: int = T, b: int = B) -> dict[str, np.ndarray]:
    """A time-major rollout in the rollout worker's key order (obs first), with a near-uniform behaviour policy."""
    rng = np.random.default_rng(seed)
    terminated = rng.random((t, b)) < 0.1
    truncated = (rng.random((t, b)) < 0.2) & ~terminated
    return dict(
        obs=rng.normal(size=(t + 1, b, 4)).astype(np.float32),
        action=rng.integers(0, 2, (t, b)).astype(np.int64),
        reward=rng.normal(1.0, 1.0, (t, b)).astype(np.float32),
        terminated=terminated,
        truncated=truncated,
        behaviour=rng.normal(0.0, 0.1, (t, b, 2)).astype(np.float32),
        final_obs=rng.normal(size=(truncated.sum(), 4)).astype(np.float32),
        final_at=np.argwhere(truncated),
    )


def params_of(learner: Learner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learner.model.parameters()]


def assert_params_equal(a: list[torch.Tensor], b: list[torch.Tensor]):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_update_returns_finite_metrics_and_counts_a_version():
    learner = make_learner()
    before = params_of(learner)
    metrics = learner.update(make_batch())
    assert set(metrics) >= METRICS
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert learner.version == 1
    assert any(not torch.equal(x, y) for x, y in zip(before, params_of(learner)))


def test_samples_trained_grows_by_t_times_b_per_batch():
    learner = make_learner()
    learner.update(make_batch(0))
    learner.update(make_batch(1), make_batch(2))
    assert learner.samples_trained == T * B + 2 * T * B


def test_several_batches_are_joined_along_the_batch_axis():
    """Two batches give the same step as one batch holding both side by side (the loss sums over [T, B])."""
    first, second = make_batch(1), make_batch(2)
    assert len(first["final_at"]) and len(second["final_at"])
    joined = {k: np.concatenate([first[k], second[k]], axis=1) for k in first if k not in ("final_obs", "final_at")}
    joined["final_obs"] = np.concatenate([first["final_obs"], second["final_obs"]])
    joined["final_at"] = np.concatenate([first["final_at"], second["final_at"] + (0, B)])
    split_learner, joined_learner = make_learner(), make_learner()
    split_metrics = split_learner.update(first, second)
    joined_metrics = joined_learner.update(joined)
    assert split_metrics == pytest.approx(joined_metrics, rel=1e-6)
    assert_params_equal(params_of(split_learner), params_of(joined_learner))
    assert split_learner.samples_trained == joined_learner.samples_trained


def test_batches_of_other_sizes_are_joined():
    learner = make_learner()
    metrics = learner.update(make_batch(1, b=1), make_batch(2, b=4))
    assert math.isfinite(metrics["loss"])


@pytest.mark.parametrize("optimizer, lr", [("rmsprop", 1e-3), ("adam", 3e-3)])
def test_repeated_updates_on_a_fixed_batch_reduce_the_value_loss(optimizer, lr):
    # RMSProp's steps are larger at one lr: at 3e-3 the moving policy drags the V-trace targets off again.
    learner = make_learner(optimizer=optimizer, lr=lr)
    batch = make_batch()
    value_losses = [learner.update(batch)["value_loss"] for _ in range(100)]
    assert max(value_losses[-5:]) < 0.7 * value_losses[0]


def test_lr_anneals_linearly_to_zero_and_stays_there():
    probe = make_learner()
    probe.update(make_batch())
    per_update = probe.samples_trained  # what one update counts: T * B
    learner = make_learner(lr=1e-3, lr_anneal_samples=4 * per_update)
    lrs = [learner.update(make_batch())["lr"] for _ in range(6)]
    assert lrs == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3, 0.0, 0.0])
    assert all(group["lr"] == 0.0 for group in learner.optimizer.param_groups)


def test_lr_zero_leaves_the_weights_unchanged():
    learner = make_learner(lr_anneal_samples=1)
    learner.update(make_batch())  # trains at the base lr, after which the annealed lr is 0
    before = params_of(learner)
    assert learner.update(make_batch(1))["lr"] == 0.0
    assert_params_equal(before, params_of(learner))


def test_lr_stays_constant_without_annealing():
    learner = make_learner(lr=2e-3)
    assert [learner.update(make_batch())["lr"] for _ in range(3)] == [2e-3] * 3


def test_state_roundtrip_through_a_weights_only_file_resumes_exactly():
    original = make_learner(seed=0)
    for seed in range(3):
        original.update(make_batch(seed))
    buffer = io.BytesIO()
    torch.save(original.get_state(), buffer)
    buffer.seek(0)
    restored = make_learner(seed=1)
    restored.set_state(torch.load(buffer, weights_only=True))
    assert (restored.version, restored.samples_trained) == (original.version, original.samples_trained)
    assert_params_equal(params_of(restored), params_of(original))
    # The optimizer's running averages came along too: the next step is the same in both.
    for learner in (original, restored):
        learner.update(make_batch(9))
    assert_params_equal(params_of(restored), params_of(original))


def test_optimizer_state_matters_for_the_next_step():
    """Guards the test above: a learner with the same weights but a fresh optimizer steps differently."""
    original = make_learner(seed=0)
    for seed in range(3):
        original.update(make_batch(seed))
    fresh_optimizer = make_learner(seed=1)
    fresh_optimizer.model.load_state_dict(original.model.state_dict())
    for learner in (original, fresh_optimizer):
        learner.update(make_batch(9))
    assert any(not torch.equal(x, y) for x, y in zip(params_of(original), params_of(fresh_optimizer)))


def test_update_can_return_the_new_weights_as_numpy():
    learner = make_learner()
    metrics, weights = learner.update(make_batch(), return_weights=True)
    assert "loss" in metrics
    expected = learner.get_weights()
    assert weights.keys() == expected.keys() == learner.model.state_dict().keys()
    for key, value in weights.items():
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(value, expected[key])
        np.testing.assert_array_equal(value, learner.model.state_dict()[key].numpy())


def test_returned_weights_are_a_snapshot():
    learner = make_learner()
    _, weights = learner.update(make_batch(0), return_weights=True)
    snapshot = {k: v.copy() for k, v in weights.items()}
    learner.update(make_batch(1))
    for key in weights:
        np.testing.assert_array_equal(weights[key], snapshot[key])


def test_computing_then_applying_gradients_is_the_same_step_as_update():
    updated, split = make_learner(), make_learner()
    for seed in range(3):
        want = updated.update(make_batch(seed))
        gradients, metrics = split.compute_gradients(make_batch(seed))
        assert gradients.version == seed and gradients.samples == T * B
        assert all(isinstance(g, np.ndarray) for g in gradients.grads)
        metrics.update(split.apply_gradients(gradients))
        assert metrics == pytest.approx(want, rel=1e-6)
        assert_params_equal(params_of(split), params_of(updated))
    assert (split.version, split.samples_trained) == (updated.version, updated.samples_trained)


def test_gradients_computed_by_one_learner_step_another():
    """A3C's shape: a worker's copy computes, the server applies; computing leaves the worker's weights as they were."""
    server, worker = make_learner(), make_learner()
    before = params_of(worker)
    gradients, _ = worker.compute_gradients(make_batch(4))
    assert_params_equal(before, params_of(worker))
    reference = make_learner()
    reference.update(make_batch(4))
    server.apply_gradients(gradients)
    assert_params_equal(params_of(server), params_of(reference))
    assert server.version == 1 and worker.version == 0


def test_learner_gpus_takes_one_gpu_when_the_cluster_has_one_unless_a_count_is_given(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    assert learner_gpus(None) == 1.0 and learner_gpus(0) == 0 and learner_gpus(0.25) == 0.25
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    assert learner_gpus(None) == 0.0
