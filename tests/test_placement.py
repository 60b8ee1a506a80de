"""Whether a cluster can place a trial, and the line that says why not: pure functions, then the wait loop with a
cluster that grows (no Ray: the cluster is faked at the functions that read it)."""

from __future__ import annotations

import pytest

from rayrl.algorithms import registry
from rayrl.config import build_config
from rayrl.errors import RayrlError
from rayrl.tune import placement


def impala(**overrides):
    algo = registry.get("impala")
    return build_config(algo.config_cls, algo.preset_for("CartPole-v1"), {"learner_gpus": 0, **overrides})


def test_the_default_cartpole_trial_needs_two_and_a_half_cpus():
    config = impala()
    assert config.num_workers == 1
    assert placement.trial_bundles(config) == [{"CPU": 0.5}, {"CPU": 1.0}, {"CPU": 1.0}]
    assert placement.describe_needs(config) == "2.5 CPUs (trial 0.5, learner 1, 1 worker x 1)"


def test_an_evaluating_trial_reserves_a_worker_share_for_its_evaluator_last():
    config = impala(evaluation_period_seconds=10, worker_cpus=0.75)
    assert placement.trial_bundles(config) == [{"CPU": 0.5}, {"CPU": 1.0}, {"CPU": 0.75}, {"CPU": 0.75}]
    assert placement.describe_needs(config) == "3 CPUs (trial 0.5, learner 1, 1 worker x 0.75, evaluator 0.75)"
    from rayrl.components.bundles import evaluator_bundle

    assert evaluator_bundle(config) == 3


def test_bundles_pack_onto_nodes_first_fit():
    assert placement.fits([{"CPU": 1}, {"CPU": 1}], [{"CPU": 1}, {"CPU": 1}])
    assert not placement.fits([{"CPU": 2}], [{"CPU": 1}, {"CPU": 1}])  # a bundle never spans nodes
    assert not placement.fits([{"CPU": 1, "GPU": 1}], [{"CPU": 4}])
    assert placement.fits([{"CPU": 0.5}, {"CPU": 1, "GPU": 1}], [{"CPU": 1}, {"CPU": 1, "GPU": 1}])


def test_shortfall_names_the_numbers_and_a_fix_that_fits():
    config = impala()
    assert placement.shortfall(config, [{"CPU": 3}]) is None
    short = placement.shortfall(config, [{"CPU": 2}])
    assert short.what == "the run needs 2.5 CPUs (trial 0.5, learner 1, 1 worker x 1); the cluster has 2 CPUs"
    assert short.fix == "share CPUs with --set learner_cpus=0.75 worker_cpus=0.75"
    assert placement.shortfall(impala(learner_cpus=0.75, worker_cpus=0.75), [{"CPU": 2}]) is None
    assert "--set learner_gpus=0" in placement.shortfall(impala(learner_gpus=1), [{"CPU": 8}]).fix
    many = placement.shortfall(impala(num_workers=8), [{"CPU": 1}, {"CPU": 1}])
    assert "at most 1 on one node" in many.what and many.fix == "use --set num_workers=5 learner_cpus=0.25 worker_cpus=0.25"


@pytest.fixture
def cluster(monkeypatch):
    """A fake 2-CPU cluster: ``cluster.nodes`` is what alive_nodes() returns, ``cluster.autoscaler`` whether an
    autoscaler runs; ``cluster.grow_after`` polls later a 4-CPU node joins."""

    class Cluster:
        nodes = [{"CPU": 2.0}]
        autoscaler = False
        grow_after: int | None = None
        polls = 0
        requested: list = []

    def alive_nodes():
        Cluster.polls += 1
        if Cluster.grow_after is not None and Cluster.polls > Cluster.grow_after:
            return Cluster.nodes + [{"CPU": 4.0}]
        return Cluster.nodes

    monkeypatch.setattr(placement, "alive_nodes", alive_nodes)
    monkeypatch.setattr(placement, "autoscaler_may_add_nodes", lambda: Cluster.autoscaler)
    monkeypatch.setattr(placement, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(placement, "WAIT_REPORT_SECONDS", 0.05)
    import ray.autoscaler.sdk

    monkeypatch.setattr(ray.autoscaler.sdk, "request_resources", lambda bundles: Cluster.requested.append(bundles))
    return Cluster


def test_without_an_autoscaler_a_trial_that_never_fits_is_one_line(cluster):
    with pytest.raises(RayrlError, match=r"needs 2.5 CPUs .*the cluster has 2 CPUs, and no autoscaler can add nodes: "
                                         r"share CPUs with --set learner_cpus=0.75 worker_cpus=0.75"):
        placement.ensure_fits(impala(), wait_seconds=None, say=print)


def test_with_an_autoscaler_it_asks_for_the_bundles_and_says_how_long_it_waited(cluster):
    cluster.autoscaler, cluster.grow_after = True, 12
    said = []
    assert placement.ensure_fits(impala(), wait_seconds=None, say=said.append)
    assert cluster.requested == [placement.trial_bundles(impala())]
    assert len(said) >= 2 and all(line.startswith("rayrl: waiting for the autoscaler to add nodes (") for line in said)
    assert "s so far): the run needs 2.5 CPUs" in said[-1]


def test_wait_seconds_gives_up_in_one_line(cluster):
    cluster.autoscaler = True
    with pytest.raises(RayrlError, match=r"gave up after 0s waiting for the autoscaler .*--wait-seconds"):
        placement.ensure_fits(impala(), wait_seconds=0.2, say=lambda line: None)


def test_a_trial_that_fits_asks_nothing(cluster):
    cluster.autoscaler = True
    assert not placement.ensure_fits(impala(learner_cpus=0.5), wait_seconds=None, say=print)
    assert cluster.requested == []


def test_an_elastic_run_asks_an_autoscaler_for_room_for_all_its_workers_and_withdraws_it(cluster):
    assert not placement.request_room_to_grow(impala(max_workers=4))  # no autoscaler: nothing to ask
    cluster.autoscaler = True
    assert not placement.request_room_to_grow(impala())  # not elastic
    assert placement.request_room_to_grow(impala(max_workers=4))
    assert cluster.requested == [[{"CPU": 0.5}, {"CPU": 1.0}] + [{"CPU": 1.0}] * 4]
    placement.withdraw_requests()
    assert cluster.requested[-1] == []
