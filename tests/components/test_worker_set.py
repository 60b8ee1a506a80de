"""WorkerSet drives any method of its actors: requests in flight, collected with the worker's index, dead workers
replaced."""

from __future__ import annotations

import os

from rayrl.components.worker_set import WorkerSet
from rayrl.core import EpisodeStats


class Doubler:
    """A worker whose method is not ``sample``: returns (2 x its value, stats), or ends its process on -1."""

    def __init__(self, value: int):
        self.value = value

    def compute(self, weights):
        if weights == -1:
            os._exit(1)
        return 2 * self.value, EpisodeStats(env_steps=self.value)

    def pid(self) -> int:
        return os.getpid()


def test_a_worker_set_calls_the_method_it_is_given_and_replaces_a_dead_worker(ray_session):
    workers = WorkerSet(lambda index, incarnation: {"value": 10 * index + incarnation}, 2, worker_cls=Doubler,
                        method="compute", depth=1, num_cpus=0.1)
    try:
        workers.submit(None)
        collected = [workers.collect(ref) for ref in ray_session.wait(workers.pending(), num_returns=2)[0]]
        assert sorted((c.worker, ray_session.get(c.rollout), c.stats.env_steps) for c in collected) == [
            (0, 0, 0), (1, 20, 10)]
        workers.submit(-1, limit=1)  # worker 0 ends its process
        [ref] = workers.pending()
        ray_session.wait([ref])
        assert workers.collect(ref) is None and workers.restarts == 1
        workers.submit(None)
        collected = [workers.collect(ref) for ref in ray_session.wait(workers.pending(), num_returns=2)[0]]
        assert sorted(ray_session.get(c.rollout) for c in collected) == [2, 20]  # worker 0's incarnation 1
    finally:
        workers.stop()
