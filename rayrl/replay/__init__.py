"""Replay: pure numpy data structures (no Ray, no torch) that replay-shard actors wrap.

- :mod:`~rayrl.replay.sum_tree`: the vectorised sum tree behind prioritized sampling;
- :mod:`~rayrl.replay.storage`: ring storage of any items, and frame-deduplicated Atari transitions;
- :mod:`~rayrl.replay.buffers`: FIFO, uniform and prioritized sampling with a Reverb-style rate limiter.
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
    "Storage",
    "SumTree",
    "bytes_per_transition",
    "uniform_sampler",
]
