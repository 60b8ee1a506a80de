"""Sequence storage: R2D2's frame-stacked replay sequences, each 84x84 frame stored once despite their overlap.

R2D2 (Kapturowski et al. 2019, sec. 2.3) replays sequences of L = 80 steps starting every period = 40 steps of an
episode: consecutive sequences of a stream share L - period steps, so items stored whole would cost about two frames
per step (eight as whole stacks of 4). The paper's replay holds 10^5 sequences, 4M observations: one frame a step.
This storage keeps that contract (:class:`~rayrl.replay.storage.Storage`: slots, keys, ``Inserted``,
evictions) for the items of :class:`~rayrl.replay.sequence_adder.SequenceAdder` with a frame stack S, C = S - 1::

    frames       [K, C + L, H, W] uint8  the older C frames of the first step's stack, then each step's newest frame
                                         (zeros where mask is False)
    mask         [K, L] bool             real steps: True up to the episode's end, then False (padding)
    action, reward, terminated, prev_action, prev_reward [K, L], state_h, state_c [K, H], any other field [K, ...]
    priority     [K]                     optional: not stored, handed to the sampler

``get(slots)`` returns the items as inserted (padding frames as zeros); the learner builds step t's stack as
``frames[t : t + S]``.

Frames live in a ring of ``(capacity - 1) * period + C + L`` frames, allocated by the first add: exactly
``capacity`` consecutive sequences of one stream (R2D2's 10^5 sequences of period 40: 4M frames). Each item keeps
the ring positions of its C + L frames. An item's successor in its stream starts ``period`` steps later, so its
leading frames repeat the predecessor's from position ``period`` on (the L - period overlapping steps and the
context): a fingerprint of the successor's first stack finds the predecessor's stored tail, an exact comparison
confirms it, and only the frames after the overlap are written. An item that continues nothing stored (a stream's
first, a new episode's, one whose predecessor went to another shard or was overwritten) costs all its C + L real
frames, so when streams do not continue, the frames run out before the slots and fewer than ``capacity`` items are
held. The storage needs no stream ids, only that consecutive items of a stream reach the same storage.

An item's frames were written in order, so its oldest frame is its first one. When the ring overwrites frames,
every item whose oldest frame goes is evicted with it: a sample never shows a foreign frame.
"""

from __future__ import annotations

import numpy as np

from rayrl.core import Batch
from rayrl.errors import RayrlError
from rayrl.replay.storage import Inserted

_NO_FRAMES = np.zeros(0, np.int64)


class SequenceStorage:
    """``capacity`` frame-stacked sequences, their overlapping frames stored once (see the module docstring).

    Args:
        capacity: sequences held (slots).
        stack: S, the frame stack depth of the observations (Atari: 4).
        period: steps between consecutive sequence starts, as the adder cut them (R2D2: 40); it sizes the frame
            ring and says where a sequence's successor starts.
    """

    def __init__(self, capacity: int, *, stack: int, period: int):
        if capacity < 1 or stack < 1 or period < 1:
            raise RayrlError(f"SequenceStorage needs capacity, stack and period >= 1, got {capacity}, {stack}, "
                             f"{period}")
        self.capacity = capacity
        self.stack = stack
        self.period = period
        self.keys = np.full(capacity, -1, np.int64)
        self.size = 0
        self.frame_capacity = 0  # set by the first add, when L is known
        self._key_frames = 0  # frames that find a predecessor: the first stack, or the overlap if shorter
        self._next_key = 0
        self._frames_written = 0
        self._frames: np.ndarray | None = None  # [frame_capacity, H, W]
        self._positions = np.zeros((capacity, 0), np.int32)  # [capacity, C + L] ring positions (0 on padding)
        self._oldest_frame = np.zeros(capacity, np.int64)  # the id of each item's first frame
        self._columns: dict[str, np.ndarray] = {}
        # A stored item's real frame ids from position ``period`` on, where its successor starts, keyed by the
        # fingerprint of the successor's first stack; oldest first. A frame's ring position is its id % frame_capacity.
        self._tails: dict[int, np.ndarray] = {}

    @property
    def frames_written(self) -> int:
        """Frames written over the storage's lifetime: about ``period`` per item when streams are continued."""
        return self._frames_written

    @property
    def nbytes(self) -> int:
        arrays = [self.keys, self._positions, self._oldest_frame, *self._columns.values()]
        if self._frames is not None:
            arrays.append(self._frames)
        return sum(array.nbytes for array in arrays)

    def count_items(self, batch: Batch) -> int:
        return int(np.shape(batch["frames"])[0])

    def add(self, batch: Batch) -> Inserted:
        frames, mask, items = self._check(batch)
        num_items = len(frames)
        real_frames = self.stack - 1 + np.count_nonzero(mask, axis=1)  # context and real steps, then padding
        if self._frames is None:
            self._allocate(frames, items)
        if real_frames.sum() > self.frame_capacity:
            raise RayrlError(f"a batch of {real_frames.sum()} frames does not fit a frame ring of "
                             f"{self.frame_capacity}: send fewer sequences per add or raise the capacity")

        # A claimed tail must outlive every frame this add writes, at most all of the batch's real frames.
        survivor_id = self._frames_written + int(real_frames.sum()) - self.frame_capacity
        ids = np.zeros(frames.shape[:2], np.int64)  # padding keeps id 0: get() zeroes those frames
        for row in range(num_items):
            count = int(real_frames[row])
            reused = self._claim_tail(frames[row, :count], survivor_id)
            new_ids = self._frames_written + np.arange(count - len(reused))
            ids[row, : len(reused)], ids[row, len(reused) : count] = reused, new_ids
            # Written now, so the next rows of this batch can continue this one; evictions follow below.
            self._frames[new_ids % self.frame_capacity] = frames[row, len(reused) : count]
            self._frames_written += len(new_ids)
            self._register_tail(frames[row, :count], ids[row, :count])

        live = self.keys >= 0
        overwritten = np.flatnonzero(live & (self._oldest_frame < self._frames_written - self.frame_capacity))
        self.keys[overwritten] = -1
        self.size -= len(overwritten)
        keys = self._next_key + np.arange(num_items, dtype=np.int64)
        slots = keys % self.capacity
        self.size += int(np.count_nonzero(self.keys[slots] < 0))
        self.keys[slots] = keys
        self._next_key += num_items
        self._positions[slots] = ids % self.frame_capacity
        self._oldest_frame[slots] = ids[:, 0]
        for name, value in items.items():
            self._columns[name][slots] = value
        self._forget_overwritten_tails()
        priorities = batch.get("priority")
        return Inserted(slots, keys, priorities, overwritten[self.keys[overwritten] < 0])

    def get(self, slots: np.ndarray) -> Batch:
        batch = {name: column[slots] for name, column in self._columns.items()}
        frames = self._frames[self._positions[slots]]
        context = np.ones((len(frames), self.stack - 1), bool)
        frames[~np.concatenate([context, batch["mask"]], axis=1)] = 0
        batch["frames"] = frames
        return batch

    def _check(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, Batch]:
        """Validate a batch of items; return its frames, mask and the other stored fields."""
        if "frames" not in batch or "mask" not in batch:
            raise RayrlError("SequenceStorage items need frames [K, C + L, H, W] and mask [K, L], as the "
                             "SequenceAdder makes them with a frame stack")
        frames, mask = np.asarray(batch["frames"]), np.asarray(batch["mask"], bool)
        items = {name: np.asarray(value) for name, value in batch.items() if name not in ("frames", "priority")}
        num_items = len(frames)
        if not 0 < num_items <= self.capacity:
            raise RayrlError(f"a batch must hold 1 to {self.capacity} sequences, got {num_items}")
        if frames.ndim != 4 or mask.ndim != 2 or frames.shape[:2] != (num_items, self.stack - 1 + mask.shape[1]):
            raise RayrlError(f"frames must be [K, C + L, H, W] with C = {self.stack - 1} and L from mask "
                             f"{mask.shape}, got {frames.shape}")
        if not mask[:, 0].all() or np.any(mask[:, 1:] > mask[:, :-1]):
            raise RayrlError("mask must be True from step 0 up to the episode's end and False after (padding)")
        for name, value in items.items():
            if len(value) != num_items:
                raise RayrlError(f"{name}: expected {num_items} sequences, got shape {value.shape}")
        if "priority" in batch and np.shape(batch["priority"]) != (num_items,):
            raise RayrlError(f"priority: expected shape {(num_items,)}, got {np.shape(batch['priority'])}")
        if self._frames is not None:
            if frames.shape[1:] != (self._positions.shape[1], *self._frames.shape[1:]):
                raise RayrlError(f"frames {frames.shape[1:]} differ from the stored "
                                 f"{(self._positions.shape[1], *self._frames.shape[1:])}")
            if items.keys() != self._columns.keys():
                raise RayrlError(f"batch fields {sorted(items)} differ from the stored {sorted(self._columns)}")
            for name, value in items.items():
                if value.shape[1:] != self._columns[name].shape[1:]:
                    raise RayrlError(f"{name}: expected [K, ...] = {self._columns[name].shape[1:]} per sequence, "
                                     f"got {value.shape[1:]}")
        return frames, mask, items

    def _allocate(self, frames: np.ndarray, items: Batch) -> None:
        length = frames.shape[1]  # C + L
        self.frame_capacity = (self.capacity - 1) * self.period + length
        self._key_frames = max(min(self.stack, length - self.period), 0)  # 0: consecutive items share no frame
        self._frames = np.zeros((self.frame_capacity, *frames.shape[2:]), frames.dtype)
        self._positions = np.zeros((self.capacity, length), np.int32)
        self._columns = {name: np.zeros((self.capacity, *value.shape[1:]), value.dtype)
                         for name, value in items.items()}

    def _claim_tail(self, frames: np.ndarray, survivor_id: int) -> np.ndarray:
        """Ids of the stored frames that this item's leading real ``frames`` repeat (empty if none); the tail that
        held them is claimed (a stream has one successor)."""
        if not self._key_frames:
            return _NO_FRAMES
        fingerprint = _fingerprint(frames[: self._key_frames])
        tail = self._tails.get(fingerprint)
        if tail is None or tail[0] < survivor_id:
            return _NO_FRAMES
        reused = tail[: len(frames)]
        if not np.array_equal(self._frames[reused % self.frame_capacity], frames[: len(reused)]):
            return _NO_FRAMES
        del self._tails[fingerprint]
        return reused

    def _register_tail(self, frames: np.ndarray, ids: np.ndarray) -> None:
        """Offer this item's real frames from ``period`` on to its successor, whose first stack they start with."""
        if not self._key_frames or len(ids) < self.period + self._key_frames:
            return  # no successor can start in its episode: that would be past the episode's real steps
        fingerprint = _fingerprint(frames[self.period : self.period + self._key_frames])
        self._tails.pop(fingerprint, None)  # re-insert at the end: the dict stays ordered oldest first
        self._tails[fingerprint] = ids[self.period :].copy()

    def _forget_overwritten_tails(self) -> None:
        """Drop tails whose frames the ring has overwritten; they are stored about oldest first."""
        oldest_kept = self._frames_written - self.frame_capacity
        while self._tails:
            fingerprint, tail = next(iter(self._tails.items()))
            if tail[0] >= oldest_kept:
                return
            del self._tails[fingerprint]


def _fingerprint(frames: np.ndarray) -> int:
    """A hash of a stack's pixels: it finds a candidate tail; a full comparison confirms it."""
    return hash(frames.tobytes())
