"""Replay: pure numpy data structures (no Ray, no torch) that replay-shard actors wrap.

- :mod:`~rayrl.replay.sum_tree`: the vectorised sum tree behind prioritized sampling;
- :mod:`~rayrl.replay.storage`: ring storage of any items, and frame-deduplicated Atari transitions;
- :mod:`~rayrl.replay.buffers`: FIFO, uniform and prioritized sampling with a Reverb-style rate limiter;
- :mod:`~rayrl.replay.sequence_adder`: R2D2's worker side, env steps cut into overlapping fixed-length sequences;
- :mod:`~rayrl.replay.sequence_storage`: those sequences with Atari frames, each frame stored once.
"""

from rayrl.replay.buffers import (
    FifoSampler,
    LinearSchedule,
    PrioritizedSampler,
    RateLimiter,
    ReplayBuffer,
    Sampler,
    uniform_sampler,
)
from rayrl.replay.sequence_adder import SequenceAdder
from rayrl.replay.sequence_storage import SequenceStorage
from rayrl.replay.storage import FrameStackStorage, Inserted, RingStorage, Storage, bytes_per_transition
from rayrl.replay.sum_tree import SumTree

__all__ = [
    "FifoSampler",
    "FrameStackStorage",
    "Inserted",
    "LinearSchedule",
    "PrioritizedSampler",
    "RateLimiter",
    "ReplayBuffer",
    "RingStorage",
    "Sampler",
    "SequenceAdder",
    "SequenceStorage",
    "Storage",
    "SumTree",
    "bytes_per_transition",
    "uniform_sampler",
]
