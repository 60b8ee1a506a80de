"""Which shard each Ape-X worker's outputs go to: one shard per worker, so frame chunks continue one another, and
every shard fed even with fewer workers than shards."""

import itertools

import pytest

from rayrl.algorithms.apex.plan import OUTPUTS_PER_TURN, shard_of


def shards_fed(rank: int, num_workers: int, num_shards: int, turns: int = 12 * OUTPUTS_PER_TURN) -> list[int]:
    return [shard_of(rank, turn, num_workers=num_workers, num_shards=num_shards) for turn in range(turns)]


@pytest.mark.parametrize("num_workers, num_shards", [(4, 4), (6, 4), (9, 2), (1, 1), (5, 1)])
def test_with_enough_workers_each_keeps_to_one_shard_and_the_load_is_even(num_workers, num_shards):
    pinned = [set(shards_fed(rank, num_workers, num_shards)) for rank in range(num_workers)]
    assert all(len(shards) == 1 for shards in pinned)
    per_shard = [sum(shards == {s} for shards in pinned) for s in range(num_shards)]
    assert max(per_shard) - min(per_shard) <= 1 and min(per_shard) >= 1


@pytest.mark.parametrize("num_workers, num_shards", [(1, 2), (2, 4), (2, 5), (3, 7)])
def test_with_fewer_workers_than_shards_each_shard_has_one_worker_taking_turns(num_workers, num_shards):
    fed = {rank: shards_fed(rank, num_workers, num_shards) for rank in range(num_workers)}
    owners = {shard: [rank for rank, shards in fed.items() if shard in shards] for shard in range(num_shards)}
    assert all(len(ranks) == 1 for ranks in owners.values())  # every shard fed, by one worker
    for rank, shards in fed.items():
        own = sorted(set(shards))
        in_turns = itertools.chain.from_iterable(itertools.repeat(shard, OUTPUTS_PER_TURN)
                                                 for shard in itertools.cycle(own))
        assert shards == list(itertools.islice(in_turns, len(shards)))  # OUTPUTS_PER_TURN outputs each, in turn
