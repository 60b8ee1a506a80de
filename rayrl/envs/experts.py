"""Scripted experts for rayrl's exploration tasks: the demonstrators whose episodes R2D3 learns from.

R2D3 (Paine et al. 2019, "Making Efficient Use of Demonstrations to Solve Hard Exploration Problems") mixes a fixed
set of expert episodes into replay; `rayrl record-demos --policy rayrl.envs.experts:minigrid_expert` records them
with one of these.

The interface, for these and for a user's own expert ("package.module:function"):

    expert(env: gymnasium.Env) -> act      called once, with the env that rayrl's make_env built (training=False)
    act(obs) -> action                     called once per step with the env's latest (wrapped) observation, the
                                           one its reset() or step() just returned

A scripted expert may read the env's true state from `env.unwrapped` rather than the observation (these two do);
that is why it gets the env itself, and why `act` must see every observation of that env, in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.envs.deep_sea import DeepSeaEnv
from rayrl.errors import RayrlError

Act = Callable[[Any], int]
State = tuple[int, int, int]
"""A MiniGrid agent's (x, y, direction)."""

FORWARD = ((1, 0), (0, 1), (-1, 0), (0, -1))
"""MiniGrid's DIR_TO_VEC: direction d faces FORWARD[d]; turning right adds 1 to d, turning left subtracts 1."""


def deep_sea_expert(env: gym.Env) -> Act:
    """Moves right in every cell (the env's action mapping says which action that is): return 1 - 0.01, always."""
    sea = env.unwrapped
    if not isinstance(sea, DeepSeaEnv):
        raise RayrlError(f"deep_sea_expert plays rayrl/DeepSea-v0, not {_env_name(env)}")

    def act(obs) -> int:
        row, column = divmod(int(np.argmax(obs)), sea.size)  # the one-hot cell of the agent
        return int(sea.action_mapping[row, column])

    return act


def minigrid_expert(env: gym.Env) -> Act:
    """Plans on the true grid each step: shortest paths (breadth-first over position and direction) to its next aim.

    The task's target is its goal square (DoorKey, Empty, FourRooms, MultiRoom) to step onto, or the object its
    mission names (`env.obj`: KeyCorridor, UnlockPickup) to pick up. While no path reaches the target, the aim is the
    key of a locked door, to pick up. Paths go through closed doors (toggled open when faced) and locked ones when
    carrying their key; keys, balls, boxes, walls and lava block them. MiniGrid carries one object at a time, so
    before picking up the target the key is dropped where it blocks no way to the target. It solves every episode of
    DoorKey and KeyCorridorS3R3 (tests/envs); a task it has no plan for raises a RayrlError.
    """
    from minigrid.minigrid_env import MiniGridEnv

    grid_env = env.unwrapped
    if not isinstance(grid_env, MiniGridEnv):
        raise RayrlError(f"minigrid_expert plays MiniGrid envs, not {_env_name(env)}")

    def act(obs) -> int:
        return _next_action(grid_env)

    return act


def _env_name(env: gym.Env) -> str:
    return repr(env.spec.id) if env.spec is not None else type(env.unwrapped).__name__


def _next_action(grid_env) -> int:
    actions = grid_env.actions
    start = (*map(int, grid_env.agent_pos), int(grid_env.agent_dir))
    target, final_action = _target(grid_env)
    carrying = grid_env.carrying
    if final_action == actions.pickup and carrying is not None:
        if _search(grid_env, start, _passable(grid_env, None), _facing(target)) is not None:
            return _drop_action(grid_env, start, target)
    aim = target
    path = _search(grid_env, start, _passable(grid_env, carrying), _facing(target))
    if path is None and carrying is None:
        aim, final_action = _key_position(grid_env), actions.pickup
        path = _search(grid_env, start, _passable(grid_env, None), _facing(aim))
    if path is None:
        raise RayrlError(f"minigrid_expert found no way to {aim} in {_env_name(grid_env)} from {start}")
    if not path:
        return final_action
    if path[0] == actions.forward and _is_closed_door(grid_env.grid.get(*_front(start))):
        return actions.toggle
    return path[0]


def _target(grid_env) -> tuple[tuple[int, int], int]:
    """The cell to face and the action that completes the task there."""
    obj = getattr(grid_env, "obj", None)
    if obj is not None and grid_env.mission.startswith("pick up"):
        return (int(obj.cur_pos[0]), int(obj.cur_pos[1])), grid_env.actions.pickup
    goal = _find(grid_env, lambda cell: cell.type == "goal")
    if goal is None:
        raise RayrlError(
            f"minigrid_expert plays tasks with a goal square (DoorKey) or an object to pick up (KeyCorridor); "
            f"{_env_name(grid_env)} has neither"
        )
    return goal, grid_env.actions.forward


def _key_position(grid_env) -> tuple[int, int]:
    locked = {cell.color for cell in grid_env.grid.grid if cell is not None and cell.type == "door" and cell.is_locked}
    key = _find(grid_env, lambda cell: cell.type == "key" and cell.color in locked)
    if key is None:
        raise RayrlError(f"minigrid_expert found no way to its target in {_env_name(grid_env)}, and no key to fetch")
    return key


def _drop_action(grid_env, start: State, target: tuple[int, int]) -> int:
    """The next action towards dropping what the agent carries on a free cell that blocks no way to `target`."""

    def can_drop(state: State) -> bool:
        cell = _front(state)
        return grid_env.grid.get(*cell) is None and (
            _search(grid_env, state, _passable(grid_env, None, blocked=cell), _facing(target)) is not None
        )

    path = _search(grid_env, start, _passable(grid_env, None), can_drop)
    if path is None:
        raise RayrlError(f"minigrid_expert found no free cell to drop its key on in {_env_name(grid_env)}")
    return path[0] if path else grid_env.actions.drop


def _search(grid_env, start: State, passable: Callable[[int, int], bool], is_goal: Callable[[State], bool]):
    """The shortest list of left/right/forward actions from `start` to a state where `is_goal` holds, or None."""
    actions = grid_env.actions
    came_from: dict[State, tuple[State, int] | None] = {start: None}
    frontier = deque([start])
    while frontier:
        state = frontier.popleft()
        if is_goal(state):
            path = []
            while came_from[state] is not None:
                state, action = came_from[state]
                path.append(action)
            return path[::-1]
        x, y, direction = state
        front_x, front_y = _front(state)
        moves = [(actions.left, (x, y, (direction - 1) % 4)), (actions.right, (x, y, (direction + 1) % 4))]
        if passable(front_x, front_y):
            moves.append((actions.forward, (front_x, front_y, direction)))
        for action, successor in moves:
            if successor not in came_from:
                came_from[successor] = (state, action)
                frontier.append(successor)
    return None


def _passable(grid_env, carrying, blocked: tuple[int, int] | None = None) -> Callable[[int, int], bool]:
    """Whether the agent can enter a cell: empty, goal or floor, a door that is open, closed or whose key it carries."""

    def passable(x: int, y: int) -> bool:
        if (x, y) == blocked:
            return False
        cell = grid_env.grid.get(x, y)
        if cell is None:
            return True
        if cell.type == "door":
            has_key = carrying is not None and carrying.type == "key" and carrying.color == cell.color
            return not cell.is_locked or has_key
        return cell.type in ("goal", "floor")

    return passable


def _facing(cell: tuple[int, int]) -> Callable[[State], bool]:
    return lambda state: _front(state) == cell


def _front(state: State) -> tuple[int, int]:
    x, y, direction = state
    dx, dy = FORWARD[direction]
    return x + dx, y + dy


def _is_closed_door(cell) -> bool:
    return cell is not None and cell.type == "door" and not cell.is_open


def _find(grid_env, predicate) -> tuple[int, int] | None:
    """The (x, y) of the first cell (row by row) that holds an object satisfying `predicate`, or None."""
    for index, cell in enumerate(grid_env.grid.grid):
        if cell is not None and predicate(cell):
            return index % grid_env.grid.width, index // grid_env.grid.width
    return None
