"""Parameter shards without Ray (sharding is exact, the staleness rule, A2C's mean, publishing, state), then the
ParameterServer on a local Ray."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rayrl.components.learner import make_optimizer
from rayrl.components.parameter_server import ParameterServer, ParameterShard, partition
from rayrl.core import Gradients
from rayrl.models import ActorCritic

OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", lr=0.1, optimizer_eps=1e-8, momentum=0.9),
    "rmsprop": dict(optimizer="rmsprop", lr=1e-2, optimizer_eps=0.1, rmsprop_decay=0.99),
    "adam": dict(optimizer="adam", lr=1e-2, optimizer_eps=1e-8),
}


def model() -> ActorCritic:
    torch.manual_seed(0)
    return ActorCritic(gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), (8, 8))


def named_params() -> list[tuple[str, np.ndarray]]:
    return [(name, p.detach().numpy().copy()) for name, p in model().named_parameters()]


def shards(num_shards: int, optimizer: str, publish_period: int = 1, **kwargs) -> list[ParameterShard]:
    named = named_params()
    blocks = partition([v.size for _, v in named], num_shards)
    return [ParameterShard(params=dict(named[i] for i in block), indices=block, publish_period=publish_period,
                           **kwargs, **OPTIMIZERS[optimizer]) for block in blocks]


def random_gradients(rng, version: int, samples: int = 10) -> Gradients:
    return Gradients([rng.normal(size=v.shape).astype(np.float32) for _, v in named_params()], version, samples)


def merged(shard_list) -> dict[str, np.ndarray]:
    return {k: v for shard in shard_list for k, v in shard.get_weights().items()}


def test_partition_covers_every_parameter_once_with_balanced_blocks():
    sizes = [1000, 10, 500, 500, 3, 990]
    blocks = partition(sizes, 3)
    assert sorted(i for block in blocks for i in block) == list(range(6))
    assert sorted(sum(sizes[i] for i in block) for block in blocks) == [1000, 1000, 1003]
    with pytest.raises(ValueError, match="shards"):
        partition(sizes, 7)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_two_shards_end_with_the_parameters_of_one_and_of_a_plain_optimizer(optimizer):
    rng = np.random.default_rng(0)
    sequence = [random_gradients(rng, version) for version in range(6)]
    one, two = shards(1, optimizer), shards(2, optimizer)
    assert len(two[0].names) and len(two[1].names)
    reference = model()
    reference_optimizer = make_optimizer(reference.parameters(), name=optimizer, lr=OPTIMIZERS[optimizer]["lr"],
                                         eps=OPTIMIZERS[optimizer]["optimizer_eps"],
                                         rmsprop_decay=OPTIMIZERS[optimizer].get("rmsprop_decay", 0.99),
                                         momentum=OPTIMIZERS[optimizer].get("momentum", 0.0))
    for gradients in sequence:
        for shard in one + two:
            shard.apply(gradients)
        for p, g in zip(reference.parameters(), gradients.grads):
            p.grad = torch.tensor(g)
        reference_optimizer.step()
    want = {k: v.detach().numpy() for k, v in reference.named_parameters()}
    for got in (merged(one), merged(two)):
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-7)


def test_gradients_older_than_max_staleness_are_dropped_and_counted():
    [shard] = shards(1, "sgd", max_staleness=2)
    rng = np.random.default_rng(1)
    # Versions the gradients were computed from, against the shard's version when each arrives.
    stamps = [0, 0, 0, 0, 1, 4, 1, 5]
    answers = [shard.apply(random_gradients(rng, v))[0] for v in stamps]
    # Shard versions on arrival: 0 1 2 3 (drop: 3 > 2) 3 (age 2, applied) 4 5 (drop: 4) 5 ...
    assert [a.staleness[0] for a in answers] == [0, 1, 2, None, 2, 0, None, 0]
    assert [a.version for a in answers] == [1, 2, 3, 3, 4, 5, 5, 6]
    assert shard.dropped == 2 and shard.samples_applied == 6 * 10


def test_several_gradients_in_one_call_apply_their_mean_once():
    rng = np.random.default_rng(2)
    a, b = random_gradients(rng, 0), random_gradients(rng, 0)
    mean = Gradients([(x + y) / 2 for x, y in zip(a.grads, b.grads)], 0, 20)
    [together], [alone] = shards(1, "adam"), shards(1, "adam")
    answer, _ = together.apply(a, b)
    alone.apply(mean)
    assert answer.staleness == [0, 0] and answer.version == 1 and answer.samples == 20
    for key, value in merged([alone]).items():
        np.testing.assert_allclose(merged([together])[key], value, rtol=1e-6, atol=1e-7)


def test_a_workers_own_exchange_counts_the_version_it_names_and_answers_with_the_weights_after():
    [shard] = shards(1, "sgd", max_staleness=1)
    rng = np.random.default_rng(4)
    applied, weights = shard.exchange(None, 0, pull=True)  # no gradient: a pull, no step
    assert applied.staleness == [] and applied.version == 0 and applied.samples == 0
    np.testing.assert_equal(weights, shard.get_weights())
    gradients = random_gradients(rng, version=7)  # the stamp the worker gives the shard counts, not this one
    answers = [shard.exchange(gradients, 0, pull=pull) for pull in (True, False, False)]
    assert [a.staleness[0] for a, _ in answers] == [0, 1, None]  # the third, 2 versions old, is dropped
    assert [a.version for a, _ in answers] == [1, 2, 2] and shard.dropped == 1
    assert answers[0][1] is not None and answers[1][1] is None and answers[2][1] is None
    assert not np.array_equal(answers[0][1][shard.names[0]], weights[shard.names[0]])  # after the gradient


def test_weights_come_back_only_when_a_version_is_due_and_are_that_versions():
    [shard] = shards(1, "sgd", publish_period=3)
    rng = np.random.default_rng(3)
    outputs = [shard.apply(random_gradients(rng, v)) for v in range(6)]
    assert [weights is not None for _, weights in outputs] == [False, False, True, False, False, True]
    np.testing.assert_equal(outputs[-1][1], shard.get_weights())


def test_lr_anneals_over_the_samples_applied():
    [shard] = shards(1, "sgd", lr_anneal_samples=40)
    rng = np.random.default_rng(4)
    lrs = []
    for v in range(5):
        lrs.append(shard.lr())
        shard.apply(random_gradients(rng, v))
    assert lrs == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0])


def test_state_by_name_loads_into_another_sharding_and_continues_alike():
    rng = np.random.default_rng(5)
    two = shards(2, "rmsprop")
    for v in range(3):
        for shard in two:
            shard.apply(random_gradients(np.random.default_rng(v), v))
    state = {"params": {}, "optimizer": {}}
    for shard in two:
        part = shard.get_state()
        state["params"].update(part["params"])
        state["optimizer"].update(part["optimizer"])
        state["counters"] = part["counters"]
    [one] = shards(1, "rmsprop")
    one.set_state(state)
    assert one.version == 3
    step = random_gradients(rng, 3)
    for shard in two + [one]:
        shard.apply(step)
    for key, value in merged(two).items():
        np.testing.assert_allclose(merged([one])[key], value, rtol=1e-6, atol=1e-7)


def test_the_server_publishes_all_blocks_as_one_version_workers_can_load(ray_session):
    server = ParameterServer(model, num_shards=2, publish_period=2, seed=0, num_cpus=0.1,
                             **OPTIMIZERS["adam"], max_staleness=None)
    try:
        initial = server.latest()
        assert initial.version == 0
        worker_model = model()
        worker_model.load_state_dict({k: torch.tensor(v) for k, v in initial.fetch().items()})
        rng = np.random.default_rng(6)
        for v in range(4):
            ref, weights_refs = server.apply(ray_session.put(random_gradients(rng, v)))
            server.finish(ray_session.get(ref), weights_refs)
            assert server.latest().version == (v + 1) // 2 * 2
        assert server.version == 4 and len(server.latest().ref) == 2
        worker_model.load_state_dict({k: torch.tensor(v) for k, v in server.latest().fetch().items()})
        state = server.get_state()
        assert state["counters"]["version"] == 4 and set(state["params"]) == set(dict(model().named_parameters()))
    finally:
        server.stop()


def test_answers_read_out_of_order_publish_only_weights_an_update_made(ray_session):
    server = ParameterServer(model, num_shards=2, publish_period=1, seed=0, num_cpus=0.1,
                             **OPTIMIZERS["sgd"], max_staleness=0)
    try:
        rng = np.random.default_rng(7)
        stepped = server.apply(ray_session.put(random_gradients(rng, 0)))  # makes version 1
        dropped = server.apply(ray_session.put(random_gradients(rng, 0)))  # 1 version old: dropped, no weights
        server.finish(ray_session.get(dropped[0]), dropped[1])  # read first, as ray.wait may hand it over
        assert server.version == 1 and server.dropped == 1 and server.latest().version == 0
        server.finish(ray_session.get(stepped[0]), stepped[1])
        assert server.latest().version == 1
        assert set(server.latest().fetch()) == set(dict(model().named_parameters()))
    finally:
        server.stop()
