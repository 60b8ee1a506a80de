"""Replay storage: preallocated ring buffers of items, with Atari frames stored once instead of once per stack.

Both storages keep the same contract (:class:`Storage`), so every sampler in :mod:`rayrl.replay.buffers` works on
either one:

- each item lives in a *slot* ``0 <= slot < capacity`` and has a *key*, a counter never reused over the storage's
  lifetime, with ``slot == key % capacity``; ``keys[slot]`` is the key of the item in that slot, or -1 when it holds
  none. A (slot, key) pair handed out with a sample lets a priority computed later be matched to the item it was
  computed for, not to whatever has since taken the slot;
- ``add`` returns an :class:`Inserted` record (new slots and keys, their priorities, the items it evicted) that a
  sampler mirrors;
- ``get(slots)`` copies only the rows asked for, never the whole buffer.

RingStorage: any dict of arrays
-------------------------------
``add`` takes items with a leading batch dim ``N``, e.g. Ape-X's n-step transitions::

    obs [N, *obs_shape], action [N, ...], reward [N] float32 (the discounted n-step reward sum),
    discount [N] float32 (gamma^n, 0 if the episode ended within the n steps), next_obs [N, *obs_shape],
    priority [N] (optional: not stored, handed to the sampler)

Any item shape works, so R2D2's fixed-length sequences are items ``[N, T, ...]``. The arrays are preallocated from a
spec or from the first batch's shapes and dtypes; each add overwrites the oldest slots.

FrameStackStorage: Atari transitions, each frame stored once
-------------------------------------------------------------
A stacked Atari observation ``[S, 84, 84]`` shares S - 1 frames with the one before it, and a transition's
``next_obs`` is a later observation of the same stream, so storing ``obs`` and ``next_obs`` stacks costs 2S frames per
transition where one is enough. ``add`` takes a time-major chunk of B env streams instead; with stack depth S,
context C = S - 1 and n-step n::

    frames   [C + T + n, B, H, W] uint8  the newest frame of each observation: position C + t is step t's
    first    [C + T + n, B] bool         True where that frame is the first of an episode
    action   [T, B, ...]                 and every other per-transition array [T, B, ...], stored per transition:
    reward   [T, B] float32              the discounted n-step reward sum
    discount [T, B] float32              gamma^n, 0 if the episode ended within the n steps
    priority [T, B]                      optional: not stored, handed to the sampler
    valid    [T, B] bool                 optional (all True if absent): False stores no transition there

The transition at (t, b) has ``obs`` = the stack of S frames ending at position C + t and ``next_obs`` = the stack
ending at position C + t + n. A stack never reaches back past its episode's first frame: it repeats that frame
instead, as gymnasium's ``FrameStackObservation`` (padding "reset") does, so stacks are rebuilt exactly as the env
showed them. The C leading frames are context: the steps before the chunk (any values, with ``first`` set at or
before position C, for a stream's first chunk). An invalid transition (say, one whose n-step window a time limit
cut, so it has no bootstrap observation) gets no slot or key, but its frame is stored: its neighbours' stacks hold it.

Consecutive chunks of a stream overlap: the next one starts T steps later, so its first C + n frames are this
chunk's last C + n (the worker keeps them for its next chunk). The storage recognises that overlap by content and
stores those frames once: frames and ``first`` flags must match exactly, so a match rebuilds exactly the stacks the
chunk describes. Its first n transitions then take the frames that were waiting for their bootstrap frames. A chunk
that continues nothing stored (a new stream, or one whose earlier chunks went elsewhere or were overwritten) is
stored whole, which costs its C + n overlap frames once more. Streams need no ids; a continued stream costs about
one frame per transition.

A rollout worker on rayrl's same-step-autoreset envs has all of this in its stacked observations ``obs_t [B, S, H,
W]``: step t's frame is ``obs_t[:, -1]`` and ``first_t`` is ``terminated | truncated`` of step t - 1 (True after a
reset). For a stream's first chunk the context can be ``obs_0[:, :-1]`` with ``first`` False, and True at position
C (:class:`~rayrl.components.transition_worker.TransitionWorker` sends such chunks). ``get`` returns ``obs`` and
``next_obs`` as ``[N, S, H, W]`` stacks beside the per-transition arrays.

Each transition's slot is the ring position of its ``obs``'s newest frame. Frames link to the frame before them in
their episode (to rebuild stacks) and to the frame after (to find dependents): when the ring overwrites a frame,
every transition whose stack holds it is evicted with it, so a sample never shows a foreign frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rayrl.core import Batch

Spec = dict[str, tuple[tuple[int, ...], np.dtype]]
"""Per-item shape and dtype of each field, e.g. ``{"obs": ((4,), np.float32), "action": ((), np.int64)}``."""


@dataclass(frozen=True)
class Inserted:
    """What one ``add`` did, for the sampler to mirror."""

    slots: np.ndarray
    """``[K]`` int64: the slots of the new items."""
    keys: np.ndarray
    """``[K]`` int64: their keys."""
    priorities: np.ndarray | None
    """``[K]``: their priorities, if the batch carried any."""
    removed: np.ndarray
    """int64 slots whose items this add evicted and did not replace."""


class Storage(Protocol):
    """Slots of items, each with a lifetime-unique key; see the module docstring."""

    capacity: int
    keys: np.ndarray
    size: int

    @property
    def nbytes(self) -> int: ...

    def count_items(self, batch: Batch) -> int:
        """How many items ``add(batch)`` would insert."""
        ...

    def add(self, batch: Batch) -> Inserted: ...

    def get(self, slots: np.ndarray) -> Batch: ...


class RingStorage:
    """A ring of ``capacity`` items, each a dict of fixed-shape arrays; the oldest items are overwritten first."""

    def __init__(self, capacity: int, spec: Spec | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.keys = np.full(capacity, -1, np.int64)
        self.size = 0
        self._next_key = 0
        self._columns: dict[str, np.ndarray] = {}
        if spec is not None:
            self._allocate(spec)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + sum(column.nbytes for column in self._columns.values())

    def count_items(self, batch: Batch) -> int:
        return len(next(iter(batch.values())))

    def add(self, batch: Batch) -> Inserted:
        items = {name: np.asarray(value) for name, value in batch.items() if name != "priority"}
        if not self._columns:
            self._allocate({name: (value.shape[1:], value.dtype) for name, value in items.items()})
        num_items = self.count_items(batch)
        self._check(items, num_items)
        priorities = batch.get("priority")
        if priorities is not None and np.shape(priorities) != (num_items,):
            raise ValueError(f"priority: expected shape {(num_items,)}, got {np.shape(priorities)}")
        keys = self._next_key + np.arange(num_items, dtype=np.int64)
        slots = keys % self.capacity
        for name, value in items.items():
            self._columns[name][slots] = value
        self.size += int(np.count_nonzero(self.keys[slots] < 0))
        self.keys[slots] = keys
        self._next_key += num_items
        return Inserted(slots, keys, priorities, np.empty(0, np.int64))

    def get(self, slots: np.ndarray) -> Batch:
        return {name: column[slots] for name, column in self._columns.items()}

    def _allocate(self, spec: Spec) -> None:
        self._columns = {name: np.zeros((self.capacity, *shape), dtype) for name, (shape, dtype) in spec.items()}

    def _check(self, items: Batch, num_items: int) -> None:
        if items.keys() != self._columns.keys():
            raise ValueError(f"batch fields {sorted(items)} differ from the stored {sorted(self._columns)}")
        if not 0 < num_items <= self.capacity:
            raise ValueError(f"a batch must hold 1 to {self.capacity} items, got {num_items}")
        for name, value in items.items():
            if value.shape != (num_items, *self._columns[name].shape[1:]):
                raise ValueError(f"{name}: expected shape {(num_items, *self._columns[name].shape[1:])}, "
                                 f"got {value.shape}")


@dataclass
class _Tail:
    """The last C + n frames of a stored chunk: where the stream's next chunk starts."""

    ids: np.ndarray  # [C + n] frame ids (a frame's ring position is its id % capacity)
    first: np.ndarray  # [C + n] bool


class FrameStackStorage:
    """Transitions whose observations are stacks of frames, each frame stored once (see the module docstring).

    ``capacity`` counts frames, which is also the most transitions it can hold: in steady state almost every frame is
    the newest ``obs`` frame of one stored transition.
    """

    def __init__(self, capacity: int, *, stack: int = 4):
        if capacity < 1 or stack < 1:
            raise ValueError(f"capacity and stack must be at least 1, got {capacity} and {stack}")
        self.capacity = capacity
        self.stack = stack
        self.keys = np.full(capacity, -1, np.int64)
        self.size = 0
        self._frames_written = 0
        self._frames: np.ndarray | None = None  # [capacity, H, W], allocated by the first add
        self._columns: dict[str, np.ndarray] = {}  # per-transition arrays [capacity, ...], also allocated then
        # The frame before each frame in its episode (the frame itself if it starts one) and the frame after (-1 if
        # none yet): ring positions.
        self._previous_frame = np.zeros(capacity, np.int32)
        self._next_frame = np.full(capacity, -1, np.int32)
        self._bootstrap_frame = np.zeros(capacity, np.int32)  # newest next_obs frame of the transition in a slot
        self._tails: dict[int, _Tail] = {}  # fingerprint of a tail's newest frame -> tail, oldest first

    @property
    def frames_written(self) -> int:
        """Frames written over the storage's lifetime: about one per transition when streams are continued."""
        return self._frames_written

    @property
    def nbytes(self) -> int:
        arrays = [self.keys, self._previous_frame, self._next_frame, self._bootstrap_frame, *self._columns.values()]
        if self._frames is not None:
            arrays.append(self._frames)
        return sum(array.nbytes for array in arrays)

    def count_items(self, batch: Batch) -> int:
        valid = batch.get("valid")
        return int(np.prod(np.shape(batch["reward"])[:2]) if valid is None else np.count_nonzero(valid))

    def add(self, batch: Batch) -> Inserted:
        frames, first, transitions = self._split(batch)
        length, num_streams = first.shape
        steps = self._check(frames, first, transitions, batch)
        valid = np.broadcast_to(np.asarray(batch.get("valid", True), bool), (steps, num_streams)).reshape(-1)
        context = self.stack - 1
        overlap = length - steps  # C + n
        if self._frames is None:
            self._allocate(frames, transitions)

        # Frame ids of every chunk position: reused from a matching stored tail, or new. A claimed tail must outlive
        # the frames this add writes, at most length * num_streams of them.
        frame_ids = np.empty((length, num_streams), np.int64)
        is_new = np.ones((length, num_streams), bool)
        survivor_id = self._frames_written + length * num_streams - self.capacity
        for stream in range(num_streams):
            tail = self._claim_tail(frames[:overlap, stream], first[:overlap, stream], survivor_id)
            if tail is not None:
                frame_ids[:overlap, stream] = tail.ids
                is_new[:overlap, stream] = False
        new_ids = self._frames_written + np.arange(np.count_nonzero(is_new))
        frame_ids[is_new] = new_ids
        positions = frame_ids % self.capacity

        removed = self._evict_dependents(new_ids % self.capacity)
        self._write_frames(frames, first, positions, is_new)
        self._frames_written += len(new_ids)

        slots = positions[context : context + steps].reshape(-1)[valid]
        keys = frame_ids[context : context + steps].reshape(-1)[valid]
        self.size += int(np.count_nonzero(self.keys[slots] < 0))
        self.keys[slots] = keys
        self._bootstrap_frame[slots] = positions[overlap:].reshape(-1)[valid]  # position C + t + n
        for name, value in transitions.items():
            self._columns[name][slots] = value.reshape(steps * num_streams, *value.shape[2:])[valid]
        for stream in range(num_streams):
            fingerprint = _fingerprint(frames[-1, stream])
            self._tails.pop(fingerprint, None)  # re-insert at the end: the dict stays ordered oldest first
            self._tails[fingerprint] = _Tail(frame_ids[-overlap:, stream].copy(), first[-overlap:, stream].copy())
        self._forget_overwritten_tails()
        priorities = None if "priority" not in batch else np.asarray(batch["priority"]).reshape(-1)[valid]
        return Inserted(slots, keys, priorities, removed[self.keys[removed] < 0])

    def get(self, slots: np.ndarray) -> Batch:
        batch = {name: column[slots] for name, column in self._columns.items()}
        batch["obs"] = self._frames[self._stack_positions(slots)]
        batch["next_obs"] = self._frames[self._stack_positions(self._bootstrap_frame[slots])]
        return batch

    def _split(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Batch]:
        transitions = {name: np.asarray(value) for name, value in batch.items()
                       if name not in ("frames", "first", "priority", "valid")}
        return np.asarray(batch["frames"]), np.asarray(batch["first"], bool), transitions

    def _check(self, frames: np.ndarray, first: np.ndarray, transitions: Batch, batch: Batch) -> int:
        """Validate a chunk's shapes (``batch`` for its optional priority and valid); return T."""
        length, num_streams = first.shape
        if "reward" not in transitions:
            raise ValueError("a chunk needs per-transition arrays [T, B, ...]: action, reward, discount")
        steps = transitions["reward"].shape[0]
        if frames.ndim != 4 or frames.shape[:2] != first.shape:
            raise ValueError(f"frames must be [C + T + n, B, H, W] matching first {first.shape}, got {frames.shape}")
        if length - steps - (self.stack - 1) < 1:
            raise ValueError(f"frames hold {length} steps: need stack - 1 = {self.stack - 1} context steps, "
                             f"T = {steps} transition steps and n >= 1 bootstrap steps")
        if length * num_streams > self.capacity:
            raise ValueError(f"a chunk of {length * num_streams} frames does not fit a capacity of {self.capacity}")
        for name, value in transitions.items():
            if value.shape[:2] != (steps, num_streams):
                raise ValueError(f"{name}: expected [T, B] = {(steps, num_streams)} leading dims, got {value.shape}")
        for name in ("priority", "valid"):
            if name in batch and np.shape(batch[name]) != (steps, num_streams):
                raise ValueError(f"{name}: expected shape [T, B] = {(steps, num_streams)}, got {np.shape(batch[name])}")
        if self._frames is not None and (frames.shape[2:] != self._frames.shape[1:]
                                         or transitions.keys() != self._columns.keys()):
            raise ValueError("chunk frame shape or transition fields differ from the stored ones")
        return steps

    def _allocate(self, frames: np.ndarray, transitions: Batch) -> None:
        self._frames = np.zeros((self.capacity, *frames.shape[2:]), frames.dtype)
        self._columns = {name: np.zeros((self.capacity, *value.shape[2:]), value.dtype)
                         for name, value in transitions.items()}

    def _claim_tail(self, frames: np.ndarray, first: np.ndarray, survivor_id: int) -> _Tail | None:
        """The stored tail these leading frames repeat, if it outlives this add; it is claimed (used once)."""
        fingerprint = _fingerprint(frames[-1])
        tail = self._tails.get(fingerprint)
        if tail is None or tail.ids[0] < survivor_id:
            return None
        # The first flag of the oldest frame shapes no stack the chunk reads: stacks reach back to it, never past.
        if not (np.array_equal(tail.first[1:], first[1:])
                and np.array_equal(self._frames[tail.ids % self.capacity], frames)):
            return None
        del self._tails[fingerprint]
        return tail

    def _evict_dependents(self, overwritten: np.ndarray) -> np.ndarray:
        """Evict the transitions whose stacks hold a frame about to be overwritten; return their slots.

        A transition's oldest frame is the oldest of its ``obs`` stack (``next_obs`` is later in the same stream),
        and a frame is in the stacks of itself and of at most S - 1 frames after it in its episode: the ones
        reached by following next-frame links. Transitions whose oldest frame was overwritten earlier were evicted
        then.
        """
        dependents = [overwritten]
        frontier = overwritten
        for _ in range(self.stack - 1):
            frontier = self._next_frame[frontier]
            frontier = frontier[frontier >= 0]
            dependents.append(frontier)
        slots = np.unique(np.concatenate(dependents))
        slots = slots[self.keys[slots] >= 0]
        self.keys[slots] = -1
        self.size -= len(slots)
        return slots

    def _write_frames(self, frames: np.ndarray, first: np.ndarray, positions: np.ndarray, is_new: np.ndarray) -> None:
        """Store the new frames and link each to its neighbours within its episode."""
        new_positions = positions[is_new]
        self._frames[new_positions] = frames[is_new]
        # Nothing before a chunk is known unless a stored tail supplied it, so a chunk's first frame starts a chain.
        starts = first.copy()
        starts[0] = True
        previous = np.where(starts, positions, np.concatenate([positions[:1], positions[:-1]]))
        self._previous_frame[new_positions] = previous[is_new]
        self._next_frame[new_positions] = -1
        linked = is_new & ~starts
        self._next_frame[previous[linked]] = positions[linked]

    def _forget_overwritten_tails(self) -> None:
        """Drop tails whose frames the ring has overwritten; they are stored oldest first."""
        oldest_kept = self._frames_written - self.capacity
        while self._tails:
            fingerprint, tail = next(iter(self._tails.items()))
            if tail.ids[0] >= oldest_kept:
                return
            del self._tails[fingerprint]

    def _stack_positions(self, newest: np.ndarray) -> np.ndarray:
        """``[N, S]`` ring positions of the stacks ending at ``newest``, oldest first, by following previous links."""
        positions = np.empty((len(newest), self.stack), np.int64)
        positions[:, -1] = newest
        for depth in range(self.stack - 2, -1, -1):
            positions[:, depth] = self._previous_frame[positions[:, depth + 1]]
        return positions


def bytes_per_transition(obs_shape: tuple[int, ...], obs_dtype, *, frame_stack: int | None = None) -> int:
    """About what one stored transition costs once the replay is full: ``obs`` and ``next_obs`` whole, or with a
    frame stack one frame (:class:`FrameStackStorage`), plus the action, reward, discount, key, frame links and
    sum-tree leaves (Pong measured 7,211 bytes: a 7,056-byte frame and 155)."""
    obs_bytes = int(np.prod(obs_shape)) * np.dtype(obs_dtype).itemsize
    return obs_bytes // frame_stack + 160 if frame_stack else 2 * obs_bytes + 96


def _fingerprint(frame: np.ndarray) -> int:
    """A hash of one frame's pixels: it finds candidate tails; a full comparison confirms them."""
    return hash(frame.tobytes())
