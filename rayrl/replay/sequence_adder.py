"""Sequence adder: an R2D2 worker's env steps cut into the fixed-length, overlapping sequences that replay stores.

R2D2 (Kapturowski et al. 2019, sec. 2.3) replays sequences of L = 80 steps that start every period = 40 steps of an
episode, never cross an episode's end, and carry the actor's recurrent state before their first step. This is the
pattern of Acme's ``SequenceAdder`` (``EndBehavior.ZERO_PAD``) writing Reverb items, as pure numpy on the worker.

``add`` takes one env-loop call's time-major steps of B envs (same-step autoreset)::

    obs          [T + 1, B, *obs_shape]  obs[t] before step t; obs[T] after the last step (the next call's obs[0]);
                                         frame-stacked envs give stacks [S, H, W] uint8
    first        [T + 1, B] bool         obs[t] starts an episode (True at each env's first step)
    action       [T, B] int64, reward [T, B] float32, terminated [T, B] bool, truncated [T, B] bool
    prev_action  [T, B] int64, prev_reward [T, B] float32    (0 where first)
    state_h, state_c [T, B, H] float32   the actor's core state before step t (zeros where first)
    final_obs    [K, *obs_shape]         the last observation of each episode a time limit cut (truncated, not
    final_at     [K, 2] int64            terminated) at step t of env b, listed as (t, b): obs[t + 1] already
                                         starts the next episode

and returns the sequences this call completed, one row each, env by env and oldest first within an env::

    obs          [K, L, *obs_shape]      -- or, with a frame stack S and context C = S - 1 --
    frames       [K, C + L, H, W] uint8  the older C frames of the first step's stack, then each step's newest frame
    action [K, L] int64, reward [K, L] float32, terminated [K, L] bool, mask [K, L] bool,
    prev_action [K, L] int64, prev_reward [K, L] float32, state_h, state_c [K, H] float32 (before step 0)

A sequence starts at episode steps 0, period, 2 period, ... and is emitted as soon as its L steps are known, or when
its episode ends (zero-padded past the end, mask False). An episode cut by a time limit ends with one extra step
holding its final observation (mask True, action 0, reward 0, terminated False; prev_action and prev_reward are the
last step's), so the learner can bootstrap from it; no sequence starts on that step (nothing to train there).

Each env's current episode is kept from its oldest unemitted sequence start on: fewer than L steps, plus the core
state (and stack context) of the pending starts. Requires period <= L, so consecutive sequences leave no gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rayrl.core import Batch
from rayrl.errors import RayrlError

_STEP_FIELDS = {"action": np.int64, "reward": np.float32, "terminated": bool, "truncated": bool,
                "prev_action": np.int64, "prev_reward": np.float32}
_STEP_ITEM_FIELDS = ("action", "reward", "terminated", "prev_action", "prev_reward")  # per step of an item


@dataclass
class _Episode:
    """One env's current episode, from its next sequence start on."""

    start: int  # the episode step of the tail's first step: the next sequence start
    steps: dict[str, np.ndarray]  # the tail's per-step item fields [n, ...] ("obs": an obs or a newest frame)
    length: int = 0  # real steps seen (the tail may hold one more: a truncated episode's final observation)
    starts: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # pending start -> its state (context)


class SequenceAdder:
    """Cuts B envs' steps into R2D2 replay sequences (see the module docstring).

    Args:
        num_envs: B, the envs of each ``add`` call.
        sequence_length: L, steps per sequence (R2D2: 80).
        period: steps between consecutive sequence starts in an episode, at most L (R2D2: 40).
        frame_stack: S, the stack depth of frame-stacked observations ``[S, H, W]``: sequences then hold frames
            instead of whole stacks. None for any other observation.
    """

    def __init__(self, num_envs: int, sequence_length: int, period: int, frame_stack: int | None = None):
        if num_envs < 1 or not 1 <= period <= sequence_length or (frame_stack is not None and frame_stack < 1):
            raise RayrlError(f"SequenceAdder needs num_envs >= 1, 1 <= period <= sequence_length and frame_stack "
                             f">= 1 or None, got {num_envs}, {period}, {sequence_length}, {frame_stack}")
        self.num_envs = num_envs
        self.sequence_length = sequence_length
        self.period = period
        self.frame_stack = frame_stack
        self._episodes: list[_Episode | None] = [None] * num_envs
        self._ended = np.ones(num_envs, bool)  # whether each env's last step ended its episode: True at the start
        self._obs_shape: tuple[int, ...] | None = None

    def add(self, steps: Batch) -> Batch:
        """Take one call's steps of every env; return the sequences completed (K = 0 rows when none)."""
        obs, final_obs, fields = self._check(steps)
        ended = fields["terminated"] | fields["truncated"]
        time_limit = fields["truncated"] & ~fields["terminated"]
        final_index = {(t, b): k for k, (t, b) in enumerate(np.asarray(steps["final_at"]).tolist())}
        items = []
        for env in range(self.num_envs):
            t = 0
            while t < len(ended):  # one segment per episode piece: up to its end or the call's last step
                ends = np.flatnonzero(ended[t:, env])
                stop = t + int(ends[0]) + 1 if len(ends) else len(ended)
                if self._episodes[env] is None:
                    self._episodes[env] = self._new_episode(obs)
                episode = self._episodes[env]
                self._append(episode, obs, fields, env, t, stop)
                if len(ends):
                    if time_limit[stop - 1, env]:
                        self._append_final(episode, final_obs[final_index[(stop - 1, env)]], fields, env, stop - 1)
                    self._episodes[env] = None
                items.append(self._emit(episode, ended=bool(len(ends))))
                t = stop
        items = [item for item in items if item is not None]
        if not items:
            return self._empty(obs, fields["state_h"].shape[-1])
        return {name: np.concatenate([item[name] for item in items]) for name in items[0]}

    def _check(self, steps: Batch) -> tuple[np.ndarray, np.ndarray, Batch]:
        """Validate one call's steps; return obs, final_obs and the other fields cast to their dtypes."""
        missing = {"obs", "first", "state_h", "state_c", "final_obs", "final_at", *_STEP_FIELDS} - steps.keys()
        if missing:
            raise RayrlError(f"SequenceAdder.add is missing {sorted(missing)}: pass every field of its docstring")
        obs = np.asarray(steps["obs"])
        if obs.ndim < 2 or obs.shape[0] < 2 or obs.shape[1] != self.num_envs:
            raise RayrlError(f"obs must be [T + 1, B = {self.num_envs}, ...] with T >= 1, got {obs.shape}")
        if self.frame_stack is not None and (obs.ndim != 5 or obs.shape[2] != self.frame_stack):
            raise RayrlError(f"obs must be frame stacks [T + 1, B, {self.frame_stack}, H, W], got {obs.shape}")
        if self._obs_shape is not None and obs.shape[2:] != self._obs_shape:
            raise RayrlError(f"obs shape {obs.shape[2:]} differs from the earlier calls' {self._obs_shape}")
        self._obs_shape = obs.shape[2:]
        T, B = obs.shape[0] - 1, obs.shape[1]
        fields = {name: np.asarray(steps[name], dtype) for name, dtype in _STEP_FIELDS.items()}
        fields["state_h"], fields["state_c"] = (np.asarray(steps[name], np.float32) for name in ("state_h", "state_c"))
        for name, value in fields.items():
            expected = (T, B, *fields["state_h"].shape[2:]) if name.startswith("state") else (T, B)
            if value.shape != expected or (name.startswith("state") and value.ndim != 3):
                raise RayrlError(f"{name} must be [T, B] = {(T, B)} ([T, B, H] for a state), got {value.shape}")
        ended = fields["terminated"] | fields["truncated"]
        expected_first = np.concatenate([self._ended[None], ended])
        if not np.array_equal(np.asarray(steps["first"], bool), expected_first):
            raise RayrlError("first must be True exactly where an episode starts: at each env's first step and "
                             "right after a terminated or truncated one (obs[0] repeats the last call's obs[T])")
        final_obs, final_at = np.asarray(steps["final_obs"], obs.dtype), np.asarray(steps["final_at"], np.int64)
        time_limit = np.argwhere(fields["truncated"] & ~fields["terminated"])
        if (final_obs.shape != (len(time_limit), *obs.shape[2:]) or final_at.shape != time_limit.shape
                or not np.array_equal(final_at[np.lexsort(final_at.T[::-1])], time_limit)):
            raise RayrlError("final_obs and final_at must hold one observation for each (t, b) truncated and not "
                             f"terminated ({len(time_limit)} here), got shapes {final_obs.shape} and {final_at.shape}")
        self._ended = ended[-1].copy()
        return obs, final_obs, fields

    def _new_episode(self, obs: np.ndarray) -> _Episode:
        payload = obs[0, 0] if self.frame_stack is None else obs[0, 0, -1]
        steps = {"obs": np.zeros((0, *payload.shape), obs.dtype)}
        steps.update({name: np.zeros(0, _STEP_FIELDS[name]) for name in _STEP_ITEM_FIELDS})
        return _Episode(start=0, steps=steps)

    def _append(self, episode: _Episode, obs: np.ndarray, fields: Batch, env: int, t0: int, t1: int) -> None:
        """Append steps t0 .. t1 - 1 of ``env``, recording the state (and stack context) of the sequence starts."""
        new = {"obs": obs[t0:t1, env] if self.frame_stack is None else obs[t0:t1, env, -1]}
        new.update({name: fields[name][t0:t1, env] for name in _STEP_ITEM_FIELDS})
        episode.steps = {name: np.concatenate([value, new[name]]) for name, value in episode.steps.items()}
        episode_step = episode.length + np.arange(t1 - t0)
        for offset in np.flatnonzero(episode_step % self.period == 0):
            t = t0 + offset
            start = {"state_h": fields["state_h"][t, env].copy(), "state_c": fields["state_c"][t, env].copy()}
            if self.frame_stack is not None:
                start["context"] = obs[t, env, :-1].copy()
            episode.starts[int(episode_step[offset])] = start
        episode.length += t1 - t0

    def _append_final(self, episode: _Episode, final_obs: np.ndarray, fields: Batch, env: int, t: int) -> None:
        """The extra step of a time-limited episode: its final observation, whose value the learner bootstraps."""
        new = {"obs": final_obs if self.frame_stack is None else final_obs[-1], "action": 0, "reward": 0.0,
               "terminated": False, "prev_action": fields["action"][t, env], "prev_reward": fields["reward"][t, env]}
        episode.steps = {name: np.concatenate([value, np.asarray(new[name], value.dtype)[None]])
                         for name, value in episode.steps.items()}

    def _emit(self, episode: _Episode, *, ended: bool) -> Batch | None:
        """The sequences now complete (all of them if the episode ended); the tail is trimmed to the next start."""
        L = self.sequence_length
        held = len(episode.steps["action"])
        stop = episode.length if ended else episode.start + held - L + 1  # starts past ``stop`` must wait
        starts = np.arange(episode.start, stop, self.period)
        if not len(starts):
            return None
        index = (starts - episode.start)[:, None] + np.arange(L)
        mask = index < held
        item = {}
        for name, value in episode.steps.items():
            item[name] = value[np.minimum(index, held - 1)]
            item[name][~mask] = 0
        item["mask"] = mask
        records = [episode.starts.pop(int(start)) for start in starts]
        for name in ("state_h", "state_c"):
            item[name] = np.stack([record[name] for record in records])
        if self.frame_stack is not None:
            item["frames"] = np.concatenate([np.stack([record["context"] for record in records]), item.pop("obs")],
                                            axis=1)
        if not ended:
            drop = starts[-1] + self.period - episode.start
            episode.steps = {name: value[drop:] for name, value in episode.steps.items()}
            episode.start += drop
        return item

    def _empty(self, obs: np.ndarray, state_size: int) -> Batch:
        """No sequence completed: every field with K = 0 rows."""
        L = self.sequence_length
        if self.frame_stack is None:
            empty = {"obs": np.zeros((0, L, *obs.shape[2:]), obs.dtype)}
        else:
            empty = {"frames": np.zeros((0, self.frame_stack - 1 + L, *obs.shape[3:]), obs.dtype)}
        empty.update({name: np.zeros((0, L), _STEP_FIELDS[name]) for name in _STEP_ITEM_FIELDS})
        empty["mask"] = np.zeros((0, L), bool)
        empty.update({name: np.zeros((0, state_size), np.float32) for name in ("state_h", "state_c")})
        return empty


def episode_sequences(episodes: list[Batch], *, sequence_length: int, period: int, frame_stack: int | None,
                      state_size: int) -> Batch:
    """The sequences of whole recorded episodes (R2D3's demonstrations, as :func:`rayrl.demos.load_demos` reads
    them: ``obs [T + 1, ...]``, ``action``, ``reward``, ``terminated``, ``truncated`` ``[T]``), in the items'
    format, with zero start states: a demonstration carries no recurrent state, so the learner's burn-in refreshes
    it (Paine et al. 2019). An episode that ends neither terminated nor truncated (recording stopped) counts as cut
    by a time limit, so its last observation is bootstrapped from.
    """
    adder = SequenceAdder(1, sequence_length, period, frame_stack)
    items = []
    for episode in episodes:
        obs, action, reward = episode["obs"], episode["action"], np.asarray(episode["reward"], np.float32)
        T = len(action)
        terminated = np.asarray(episode["terminated"], bool)
        truncated = np.asarray(episode["truncated"], bool) | (np.arange(T) == T - 1) & ~terminated
        first = np.zeros((T + 1, 1), bool)
        first[[0, T]] = True
        cut = np.argwhere(truncated & ~terminated).reshape(-1, 1)
        state = np.zeros((T, 1, state_size), np.float32)
        items.append(adder.add({
            "obs": obs[:, None], "first": first, "action": action[:, None], "reward": reward[:, None],
            "terminated": terminated[:, None], "truncated": truncated[:, None],
            "prev_action": np.concatenate([np.zeros_like(action[:1]), action[:-1]])[:, None],
            "prev_reward": np.concatenate([[0.0], reward[:-1]]).astype(np.float32)[:, None],
            "state_h": state, "state_c": state, "final_obs": obs[cut[:, 0] + 1],
            "final_at": np.concatenate([cut, np.zeros_like(cut)], axis=1)}))
    return {name: np.concatenate([item[name] for item in items]) for name in items[0]}
