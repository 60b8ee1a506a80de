"""Replay operation speed and Atari frame-storage bytes; prints one JSON line.

1. A prioritized buffer (alpha 0.6, beta 0.4) full with 1M transitions of 4-float observations: median and p90
   wall time of ``add`` (512 transitions), ``sample`` (batch 512, the Ape-X batch) and ``update_priorities``
   (512 priorities). Targets: sample and update under 1 ms.
2. A prioritized FrameStackStorage of 50K frames, filled past one wrap-around by 16 streams sending Ape-X-sized
   chunks (50 steps, n = 3, 84x84 frames, stacks of 4, episodes of 20 to 500 steps): all arrays' bytes (frames,
   per-transition arrays, links, keys, sum tree) per stored transition. Target: at most 1.1 x 7,056 bytes.
   ``--atari-chunks pong`` takes the chunks from a real TransitionWorker on ALE/Pong-v5 instead (random actions,
   initial priorities; about 2 minutes at 50K frames on one core, so pair it with a smaller --atari-capacity).

Run: python benchmarks/replay_ops.py [--repeats 500] [--atari-chunks synthetic|pong]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from rayrl.replay import FrameStackStorage, PrioritizedSampler, ReplayBuffer, RingStorage

FRAME_BYTES = 84 * 84


def percentiles_ms(durations_ns: list[int]) -> dict[str, float]:
    median, p90 = np.percentile(np.array(durations_ns) / 1e6, [50, 90])
    return {"median": round(float(median), 4), "p90": round(float(p90), 4)}


def transitions(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    return {
        "obs": rng.standard_normal((count, 4), dtype=np.float32),
        "action": rng.integers(0, 4, count),
        "reward": rng.standard_normal(count, dtype=np.float32),
        "discount": np.full(count, 0.99**3, np.float32),
        "next_obs": rng.standard_normal((count, 4), dtype=np.float32),
        "priority": rng.uniform(0.01, 2.0, count),
    }


def time_operations(capacity: int, batch_size: int, repeats: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    replay = ReplayBuffer(RingStorage(capacity), PrioritizedSampler(capacity, priority_exponent=0.6,
                                                                      importance_exponent=0.4))
    for _ in range(capacity // 100_000):
        replay.add(transitions(rng, 100_000))
    add_batches = [transitions(rng, batch_size) for _ in range(repeats)]
    durations: dict[str, list[int]] = {"add": [], "sample": [], "update": []}
    for step, add_batch in enumerate(add_batches):
        start = time.perf_counter_ns()
        replay.add(add_batch)
        durations["add"].append(time.perf_counter_ns() - start)

        start = time.perf_counter_ns()
        batch = replay.sample(batch_size, learner_step=step)
        durations["sample"].append(time.perf_counter_ns() - start)

        priorities = np.abs(batch["reward"]).astype(np.float64) + 1e-6
        start = time.perf_counter_ns()
        replay.update_priorities(batch["indices"], batch["keys"], priorities)
        durations["update"].append(time.perf_counter_ns() - start)
    assert replay.size == capacity
    return {name: percentiles_ms(values) for name, values in durations.items()}


def atari_chunks(num_streams: int, steps: int, n: int, stack: int, rng: np.random.Generator):
    """Endless chunks from ``num_streams`` streams; frame (stream, step) is a constant image plus a step stamp."""
    context = stack - 1
    length = context + steps + n
    base = rng.integers(0, 256, (num_streams, 84, 84), dtype=np.uint8)
    episode_first = np.zeros((num_streams, 1_000_000), bool)
    for stream in range(num_streams):
        starts = np.cumsum(rng.integers(20, 500, size=10_000))
        episode_first[stream, starts[starts < episode_first.shape[1]]] = True
    episode_first[:, 0] = True
    start_step = 0
    while True:
        chunk_steps = start_step + np.arange(-context, steps + n)
        frames = np.broadcast_to(base, (length, num_streams, 84, 84)).copy()
        frames[:, :, 0, :4] = (np.maximum(chunk_steps, 0)[:, None, None] >> np.array([0, 8, 16, 24])) & 255
        first = episode_first[:, np.maximum(chunk_steps, 0)].T & (chunk_steps >= 0)[:, None]
        yield {
            "frames": frames,
            "first": first,
            "action": rng.integers(0, 18, (steps, num_streams)),
            "reward": rng.standard_normal((steps, num_streams), dtype=np.float32),
            "discount": np.full((steps, num_streams), 0.99**n, np.float32),
            "priority": rng.uniform(0.01, 2.0, (steps, num_streams)),
        }
        start_step += steps


def pong_worker_chunks(num_streams: int, steps: int, n: int):
    """Endless chunks from a TransitionWorker on ALE/Pong-v5 (stacks of 4): what Ape-X's shards get."""
    from rayrl.components.transition_worker import TransitionWorker

    worker = TransitionWorker(env="ALE/Pong-v5", num_envs=num_streams, rollout_length=steps, seed=0,
                              hidden_sizes=(), dueling=True, n_step=n, gamma=0.99, epsilon=1.0,
                              initial_priorities=True)
    while True:
        yield worker.sample()[0]


def atari_bytes(capacity: int, num_streams: int, steps: int, n: int, stack: int, source: str) -> dict[str, float]:
    rng = np.random.default_rng(1)
    storage = FrameStackStorage(capacity, stack=stack)
    replay = ReplayBuffer(storage, PrioritizedSampler(capacity))
    if source == "pong":
        chunks = pong_worker_chunks(num_streams, steps, n)
    else:
        chunks = atari_chunks(num_streams, steps, n, stack, rng)
    transitions = 0
    add_ns = []
    while storage.frames_written < 1.5 * capacity:
        chunk = next(chunks)
        transitions += storage.count_items(chunk)
        start = time.perf_counter_ns()
        replay.add(chunk)
        add_ns.append(time.perf_counter_ns() - start)
    sample_ns = []
    for _ in range(50):
        start = time.perf_counter_ns()
        replay.sample(512)
        sample_ns.append(time.perf_counter_ns() - start)
    bytes_per_transition = replay.nbytes / replay.size
    return {
        "capacity": capacity,
        "stored_transitions": replay.size,
        "bytes_per_transition": round(bytes_per_transition, 1),
        "ratio_to_one_frame": round(bytes_per_transition / FRAME_BYTES, 4),
        "frames_written_per_transition": round(storage.frames_written / transitions, 4),
        "chunk": {"source": source, "streams": num_streams, "steps": steps, "n": n, "stack": stack},
        "add_chunk_ms": percentiles_ms(add_ns),
        "sample_512_ms": percentiles_ms(sample_ns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--atari-capacity", type=int, default=50_000)
    parser.add_argument("--atari-chunks", choices=("synthetic", "pong"), default="synthetic")
    args = parser.parse_args()

    operations = time_operations(args.capacity, args.batch_size, args.repeats)
    atari = atari_bytes(args.atari_capacity, num_streams=16, steps=50, n=3, stack=4, source=args.atari_chunks)
    result = {
        "benchmark": "replay_ops",
        "prioritized": {"capacity": args.capacity, "obs": "4 x float32", "batch_size": args.batch_size,
                        "repeats": args.repeats, **{f"{name}_ms": value for name, value in operations.items()}},
        "atari_frames": atari,
        "targets_met": {
            "sample_under_1ms": operations["sample"]["median"] < 1.0,
            "update_under_1ms": operations["update"]["median"] < 1.0,
            "atari_bytes_within_1.1_frames": atari["ratio_to_one_frame"] <= 1.1,
        },
        "machine": f"{platform.processor() or platform.machine()}, numpy {np.__version__}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
