"""What one trial reserves on a Ray cluster, and whether a cluster can ever place it.

A trial is one placement group: a bundle for the trial process (light: it routes object refs), one for the
learner (with the GPU) or each parameter-server shard, one per rollout worker, in that order; each actor is
pinned to its own bundle (:mod:`rayrl.components.bundles`). On a cluster that cannot place it and cannot grow, Tune would wait
forever, printing only "no trial is running"; :func:`ensure_fits` says so in one line instead, with the fix.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, NamedTuple

from rayrl.errors import RayrlError

TRIAL_CPUS = 0.5
"""The trial process's bundle."""
WAIT_REPORT_SECONDS = 30.0
"""How often a run waiting for an autoscaler says how long it has waited."""
POLL_SECONDS = 1.0
"""How often it looks at the cluster meanwhile."""


def _cpu_shares(config) -> list[float]:
    evaluators = 0 if config.evaluation_period_seconds is None else 1  # it steps an env as a worker does
    return ([TRIAL_CPUS] + [config.learner_cpus] * config.learner_actors
            + [config.worker_cpus] * (config.num_workers + evaluators))


def trial_actors(config) -> int:
    """Actors one trial starts in its bundles: its process, learners (or server shards), workers, evaluator."""
    return len(_cpu_shares(config))


def trial_bundles(config) -> list[dict[str, float]]:
    """The trial's placement-group bundles: trial process, learner (with its GPU, if any; or each parameter-server
    shard), each worker, then the evaluator if any."""
    from rayrl.components.learner import learner_gpus

    bundles = [{"CPU": cpus} for cpus in _cpu_shares(config)]
    gpus = learner_gpus(config.learner_gpus)
    if gpus:
        bundles[1]["GPU"] = gpus
    return bundles


def required_cpus(config) -> float:
    """CPUs one trial reserves (a local Ray is started with at least this many logical CPUs)."""
    return sum(_cpu_shares(config))


def describe_needs(config) -> str:
    """'2.5 CPUs (trial 0.5, learner 1, 1 worker x 1)', '... 1 worker x 1, evaluator 1)'."""
    workers = f"{config.num_workers} worker{'s' if config.num_workers > 1 else ''} x {config.worker_cpus:g}"
    learners = (f"learner {config.learner_cpus:g}" if config.learner_actors == 1
                else f"{config.learner_actors} server shards x {config.learner_cpus:g}")
    if config.evaluation_period_seconds is not None:
        workers += f", evaluator {config.worker_cpus:g}"
    return (f"{required_cpus(config):g} CPUs (trial {TRIAL_CPUS:g}, {learners}, {workers})"
            + (f" and {config.learner_gpus:g} GPU" if config.learner_gpus and config.learner_gpus > 0 else ""))


def fits(bundles: list[dict[str, float]], nodes: list[dict[str, float]]) -> bool:
    """Whether the bundles can be packed onto the nodes (first fit, largest bundle first), as Ray's PACK does."""
    free = [dict(node) for node in nodes]
    for bundle in sorted(bundles, key=lambda b: -b.get("CPU", 0)):
        node = next((n for n in free if all(n.get(k, 0) + 1e-9 >= v for k, v in bundle.items())), None)
        if node is None:
            return False
        for key, value in bundle.items():
            node[key] -= value
    return True


class Shortfall(NamedTuple):
    what: str
    """'the run needs 2.5 CPUs (...); the cluster has 2 CPUs'."""
    fix: str
    """'--set learner_cpus=0.75 worker_cpus=0.75'."""


def shortfall(config, nodes: list[dict[str, float]]) -> Shortfall | None:
    """None if one trial of ``config`` fits on ``nodes`` (each node's total resources), else the numbers and the
    fix."""
    bundles = trial_bundles(config)
    if fits(bundles, nodes):
        return None
    cpus = sum(n.get("CPU", 0) for n in nodes)
    gpus = sum(n.get("GPU", 0) for n in nodes)
    has = f"the cluster has {cpus:g} CPUs" + (f" and {gpus:g} GPUs" if gpus else "")
    if len(nodes) > 1:
        has += f" (at most {max(n.get('CPU', 0) for n in nodes):g} on one node)"
    what = f"the run needs {describe_needs(config)}; {has}"
    if bundles[1].get("GPU", 0) > gpus:
        return Shortfall(what, "use --set learner_gpus=0 to learn on the CPU")
    return Shortfall(what, fix_for(config, nodes))


def fix_for(config, nodes: list[dict[str, float]]) -> str:
    """The smallest change that makes the trial fit: CPU shares for the learner and workers (quarter steps), then
    fewer workers as well."""
    shares = [q / 4 for q in range(math.ceil(4 * max(config.learner_cpus, config.worker_cpus)), 0, -1)]
    for workers in range(config.num_workers, 0, -1):
        for share in shares:
            change = {"num_workers": workers, "learner_cpus": min(config.learner_cpus, share),
                      "worker_cpus": min(config.worker_cpus, share)}
            if fits(trial_bundles(dataclasses.replace(config, **change)), nodes):
                flags = " ".join(f"{k}={v:g}" for k, v in change.items() if v != getattr(config, k))
                return f"share CPUs with --set {flags}" if workers == config.num_workers else f"use --set {flags}"
    return "use nodes with more CPUs"


def alive_nodes() -> list[dict[str, float]]:
    """Each alive node's total resources."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def autoscaler_may_add_nodes() -> bool:
    """Whether the cluster runs an autoscaler with node types it can launch (``ray up``, KubeRay), not a cluster of
    hand-started nodes (whose monitor reports only read-only types named ``node_<id>``)."""
    import json

    import ray

    try:  # autoscaler v2 (KubeRay, or RAY_enable_autoscaler_v2): the cluster config lives in the GCS
        config = ray._private.state.state.get_cluster_config()
        if config is not None and len(config.node_group_configs) > 0:
            return True
    except Exception:  # an older GCS, or a private API that moved: fall back to the v1 status below
        pass
    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized

    if not _internal_kv_initialized():
        return False
    raw = _internal_kv_get("__autoscaling_status")
    if not raw:
        return False
    report = json.loads(raw).get("autoscaler_report") or {}
    node_types = {*(report.get("active_nodes") or {}), *(report.get("pending_launches") or {}),
                  *(report.get("node_type_mapping") or {}).values()}
    return any(not str(t).startswith("node_") for t in node_types)


def ensure_fits(config, *, wait_seconds: float | None, say: Callable[[str], Any]) -> bool:
    """Return once one trial of ``config`` fits on the cluster Ray is connected to; True if it asked the autoscaler
    for nodes (:func:`withdraw_requests` when the run ends). Where it never can fit (no autoscaler), raise a
    one-line error with the fix; where an autoscaler may add nodes, ask it for the bundles and say what is waited
    for, every WAIT_REPORT_SECONDS, until ``wait_seconds`` (None: for ever)."""
    problem = shortfall(config, alive_nodes())
    if problem is None:
        return False
    if not autoscaler_may_add_nodes():
        raise RayrlError(f"{problem.what}, and no autoscaler can add nodes: {problem.fix}, or use a larger cluster")
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=trial_bundles(config))
    start = time.time()
    while problem is not None:
        waited = time.time() - start
        if wait_seconds is not None and waited >= wait_seconds:
            raise RayrlError(f"gave up after {waited:.0f}s waiting for the autoscaler to add nodes: {problem.what}: "
                             f"{problem.fix}, or wait longer (--wait-seconds)")
        say(f"rayrl: waiting for the autoscaler to add nodes ({waited:.0f}s so far): {problem.what}")
        deadline = time.time() + WAIT_REPORT_SECONDS
        while problem is not None and time.time() < deadline:
            if wait_seconds is not None and time.time() - start >= wait_seconds:
                break
            time.sleep(POLL_SECONDS)
            problem = shortfall(config, alive_nodes())
    return True


def request_room_to_grow(config) -> bool:
    """For an elastic run (``max_workers`` above ``num_workers``) on a cluster whose autoscaler may add nodes, ask
    it for room for a trial at ``max_workers``: the nodes it adds are the free CPUs the run's workers grow onto
    (:meth:`rayrl.components.worker_set.WorkerSet.grow`). True if asked. The request is the cluster's one: the last
    run to ask sets it."""
    if config.max_workers <= config.num_workers or not autoscaler_may_add_nodes():
        return False
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=trial_bundles(dataclasses.replace(config, num_workers=config.max_workers)))
    return True


def withdraw_requests() -> None:
    """Withdraw what the run asked the autoscaler for (a request stands until replaced), so that the nodes it
    added go once idle."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=[])
