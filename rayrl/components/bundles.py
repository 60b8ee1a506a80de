"""Each actor of a trial in its own bundle of the trial's placement group.

:mod:`rayrl.tune.placement` lays the bundles out: the trial process, then the learner (or each parameter-server
shard), then each worker, then the evaluator. An actor left to take any bundle can take one sized for another (a
0.5-CPU server shard in a 0.75-CPU worker bundle) and leave that one's actor unplaceable for ever, so each is pinned
to its own. Outside a placement group (tests, benchmarks, a plain ``ray.init``) actors are placed as usual.
"""

from __future__ import annotations

from typing import Any

LEARNER_BUNDLE = 1
"""The first learner's (or server shard's) bundle: right after the trial process's."""


def first_worker_bundle(config: Any) -> int:
    """The bundle of worker 0: after the trial process's and the learners'."""
    return LEARNER_BUNDLE + config.learner_actors


def evaluator_bundle(config: Any) -> int:
    """The evaluator's bundle: after the workers'."""
    return first_worker_bundle(config) + config.num_workers


def bundle_options(index: int) -> dict[str, Any]:
    """Actor options that place it in bundle ``index`` of the current placement group; none outside one."""
    from ray.util import get_current_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group = get_current_placement_group()
    if group is None:
        return {}
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)}
