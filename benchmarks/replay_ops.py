"""Replay operation speed and Atari frame-storage bytes; prints one JSON line.

1. A prioritized buffer (alpha 0.6, beta 0.4) full with 1M transitions of 4-float observations: median and p90
   wall time of ``add`` (512 transitions), ``sample`` (batch 512, the Ape-X batch) and ``update_priorities``
   (512 priorities). Targets: sample and update under 1 ms.
2. A prioritized FrameStackStorage of 50K frames, filled past one wrap-around by 16 streams sending Ape-X-sized
   chunks (50 steps, n = 3, 84x84 frames, stacks of 4, episodes of 20 to 500 steps): all arrays' bytes (frames,
   per-transition arrays, links, keys, sum tree) per stored transition. Target: at most 1.1 x 7,056 bytes.
   ``--atari-chunks pong`` takes the chunks from a real TransitionWorker on ALE/Pong-v5 instead (random actions,
   initial priorities; about 2 minutes at 50K frames on one core, so pair it with a smaller --atari-capacity).
3. R2D2's Atari sequence replay: 16 synthetic streams (84x84 frames in stacks of 4, episodes of 200 to 2,000 steps,
   a tenth cut by a time limit, LSTM state 512) through a SequenceAdder (L 80, period 40) into a prioritized
   (alpha 0.9) SequenceStorage of 500 sequences, filled past one wrap-around of its frame ring: all arrays' bytes
   (frames, per-sequence arrays, frame positions, keys, sum tree) per distinct step held (a real step of a stored
   sequence: its newest frame), relative to one 7,056-byte frame. Target: at most 1.2, although consecutive
   sequences share 40 steps and 3 context frames. Also the adder's and the inserts' env steps per second and the
   time to sample R2D2's batch of 64 sequences.

Run: python benchmarks/replay_ops.py [--repeats 500] [--atari-chunks synthetic|pong] [--sequence-capacity 500]
(about 6 s on 2 cores with the defaults)
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from rayrl.replay import (
    FrameStackStorage,
    PrioritizedSampler,
    ReplayBuffer,
    RingStorage,
    SequenceAdder,
    SequenceStorage,
)

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


def atari_env_steps(num_envs: int, steps: int, stack: int, lstm_size: int, rng: np.random.Generator):
    """Endless env-loop calls of ``num_envs`` envs, as a recurrent Atari worker hands them to its SequenceAdder.

    Each env's observations are stacks of frames (a constant image per env with its env and observation counter
    stamped in its first pixels, the final observation of a time-limited episode counted too), stacked like
    gymnasium's FrameStackObservation.
    """
    B, envs = num_envs, np.arange(num_envs)
    base = rng.integers(0, 256, (B, 84, 84), dtype=np.uint8)
    counter = np.zeros(B, np.int64)  # observations so far, per env

    def frames(which: np.ndarray, final: bool = False) -> np.ndarray:
        out = base[which].copy()
        out[:, 0, :4] = (counter[which, None] >> np.array([0, 8, 16, 24])) & 255
        out[:, 0, 4] = which
        out[:, 1, 0] = final
        counter[which] += 1
        return out

    stacks = np.repeat(frames(envs)[:, None], stack, axis=1)
    remaining = rng.integers(200, 2001, B)  # steps left in each env's episode
    first = np.ones(B, bool)
    previous = (np.zeros(B, np.int64), np.zeros(B, np.float32))
    while True:
        obs = np.empty((steps + 1, B, stack, 84, 84), np.uint8)
        first_t = np.empty((steps + 1, B), bool)
        action = rng.integers(0, 18, (steps, B))
        reward = rng.standard_normal((steps, B)).astype(np.float32)
        terminated, truncated = np.zeros((steps, B), bool), np.zeros((steps, B), bool)
        prev_action, prev_reward = np.empty((steps, B), np.int64), np.empty((steps, B), np.float32)
        final_obs, final_at = [], []
        for t in range(steps):
            obs[t], first_t[t] = stacks, first
            prev_action[t], prev_reward[t] = np.where(first, 0, previous[0]), np.where(first, 0, previous[1])
            remaining -= 1
            ended = remaining == 0
            truncated[t] = ended & (rng.random(B) < 0.1)
            terminated[t] = ended & ~truncated[t]
            for env in np.flatnonzero(truncated[t]):
                final_obs.append(np.concatenate([stacks[env, 1:], frames(np.array([env]), final=True)]))
                final_at.append((t, env))
            stacks = np.concatenate([stacks[:, 1:], frames(envs)[:, None]], axis=1)
            stacks[ended] = stacks[ended, -1:]  # the new episode's reset stack
            remaining[ended] = rng.integers(200, 2001, int(ended.sum()))
            first, previous = ended, (action[t], reward[t])
        obs[steps], first_t[steps] = stacks, first
        state = rng.standard_normal((2, steps, B, lstm_size)).astype(np.float32) * ~first_t[:-1, :, None]
        yield {"obs": obs, "first": first_t, "action": action, "reward": reward, "terminated": terminated,
               "truncated": truncated, "prev_action": prev_action, "prev_reward": prev_reward,
               "state_h": state[0], "state_c": state[1],
               "final_obs": np.array(final_obs, np.uint8).reshape(-1, stack, 84, 84),
               "final_at": np.array(final_at, np.int64).reshape(-1, 2)}


def steps_held(intervals: dict[int, tuple[int, int, int]], keys: np.ndarray) -> int:
    """Distinct observations in the stored sequences: the union of their (env, first, count) intervals."""
    held = 0
    by_env: dict[int, list[tuple[int, int]]] = {}
    for key in keys.tolist():
        env, start, count = intervals[key]
        by_env.setdefault(env, []).append((start, start + count))
    for spans in by_env.values():
        covered_to = -1
        for start, stop in sorted(spans):
            held += max(stop - max(start, covered_to), 0)
            covered_to = max(covered_to, stop)
    return held


def atari_sequences(capacity: int, num_envs: int, length: int, period: int, stack: int,
                    lstm_size: int) -> dict[str, object]:
    rng = np.random.default_rng(2)
    storage = SequenceStorage(capacity, stack=stack, period=period)
    replay = ReplayBuffer(storage, PrioritizedSampler(capacity, priority_exponent=0.9, importance_exponent=0.6))
    adder = SequenceAdder(num_envs, length, period, stack)
    calls = atari_env_steps(num_envs, period, stack, lstm_size, rng)
    intervals: dict[int, tuple[int, int, int]] = {}  # key -> (env, first observation, real steps)
    env_steps, adder_ns, add_ns = 0, 0, []
    while not storage.frame_capacity or storage.frames_written < 1.5 * storage.frame_capacity:
        steps = next(calls)
        start = time.perf_counter_ns()
        batch = adder.add(steps)
        adder_ns += time.perf_counter_ns() - start
        env_steps += steps["action"].size
        if not len(batch["mask"]):
            continue
        batch["priority"] = rng.uniform(0.01, 2.0, len(batch["mask"]))
        start = time.perf_counter_ns()
        replay.add(batch)
        add_ns.append(time.perf_counter_ns() - start)
        stamps = batch["frames"][:, stack - 1, 0, :5].astype(np.int64)  # the first step's frame
        for stamp, count in zip(stamps, batch["mask"].sum(axis=1)):
            observation = int((stamp[:4] << np.array([0, 8, 16, 24])).sum())
            intervals[len(intervals)] = (int(stamp[4]), observation, int(count))  # keys count from 0
    sample_ns = []
    for _ in range(30):
        start = time.perf_counter_ns()
        replay.sample(64)
        sample_ns.append(time.perf_counter_ns() - start)
    held = steps_held(intervals, storage.keys[storage.keys >= 0])
    ratio = replay.nbytes / held / FRAME_BYTES
    return {
        "capacity_sequences": capacity,
        "frame_capacity": storage.frame_capacity,
        "stored_sequences": replay.size,
        "steps_held": held,
        "bytes_per_step": round(replay.nbytes / held, 1),
        "ratio_to_one_frame": round(ratio, 4),
        "frames_written_per_env_step": round(storage.frames_written / env_steps, 4),
        "sequence": {"length": length, "period": period, "stack": stack, "lstm_size": lstm_size,
                     "streams": num_envs},
        "adder_env_steps_per_s": round(env_steps / (adder_ns / 1e9)),
        "insert_env_steps_per_s": round(env_steps / (sum(add_ns) / 1e9)),
        "insert_sequences_per_s": round(len(intervals) / (sum(add_ns) / 1e9)),
        "add_batch_ms": percentiles_ms(add_ns),
        "sample_64_ms": percentiles_ms(sample_ns),
        "sample_sequences_per_s": round(64 / (np.median(sample_ns) / 1e9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--atari-capacity", type=int, default=50_000)
    parser.add_argument("--atari-chunks", choices=("synthetic", "pong"), default="synthetic")
    parser.add_argument("--sequence-capacity", type=int, default=500)
    args = parser.parse_args()

    operations = time_operations(args.capacity, args.batch_size, args.repeats)
    atari = atari_bytes(args.atari_capacity, num_streams=16, steps=50, n=3, stack=4, source=args.atari_chunks)
    sequences = atari_sequences(args.sequence_capacity, num_envs=16, length=80, period=40, stack=4, lstm_size=512)
    result = {
        "benchmark": "replay_ops",
        "prioritized": {"capacity": args.capacity, "obs": "4 x float32", "batch_size": args.batch_size,
                        "repeats": args.repeats, **{f"{name}_ms": value for name, value in operations.items()}},
        "atari_frames": atari,
        "atari_sequences": sequences,
        "targets_met": {
            "sample_under_1ms": operations["sample"]["median"] < 1.0,
            "update_under_1ms": operations["update"]["median"] < 1.0,
            "atari_bytes_within_1.1_frames": atari["ratio_to_one_frame"] <= 1.1,
            "sequence_bytes_within_1.2_frames": sequences["ratio_to_one_frame"] <= 1.2,
        },
        "machine": f"{platform.processor() or platform.machine()}, numpy {np.__version__}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
