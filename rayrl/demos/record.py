"""Demonstrations recorded as a Minari dataset (``rayrl record-demos``): a checkpoint's greedy policy or a user's
``function(env) -> act`` run for whole episodes, written to a staging directory and moved into place at the end."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.demos.dataset import DATA_FORMAT, dataset_directory
from rayrl.envs import make_env
from rayrl.errors import RayrlError, did_you_mean, one_line
from rayrl.models.spaces import check_action_space, check_observation_space

Act = Callable[[Any], Any]
MakeAct = Callable[[gym.Env], Act]


def record_demos(out: str | os.PathLike, *, episodes: int, env: str | None = None,
                 policy: str | MakeAct | None = None, checkpoint: str | os.PathLike | None = None, seed: int = 0,
                 env_kwargs: dict[str, Any] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Records ``episodes`` whole episodes (``make_env(env, training=False)``, reset with seeds ``seed``,
    ``seed + 1``, ...) as the Minari dataset ``out``; what ``rayrl record-demos`` runs.

    Args:
      out: the dataset's id or path (:func:`dataset_directory`). It is written into a hidden directory beside it
        and renamed into place once whole, so an interrupted recording leaves nothing behind.
      episodes: how many episodes, 1 or more.
      env: the env id (:func:`rayrl.envs.make_env`); with ``checkpoint`` it defaults to the agent's training env.
      policy: ``"package.module:function"`` or the function itself: ``function(env) -> act`` and
        ``act(obs) -> action``; the function gets the env, so a scripted expert can read ``env.unwrapped``. An
        ``act`` with memory may also have ``reset()``, called where each episode starts, and ``observe(reward)``,
        called after each step.
      checkpoint: a trained agent's run or checkpoint directory instead, acting greedily
        (:func:`rayrl.policy.load_policy`); the env must have the spaces it was trained on.
      env_kwargs: the env's constructor arguments; with ``checkpoint`` and its training env they default to the
        training run's.
      overwrite: replace an existing dataset of that name (only a Minari dataset: never another directory).

    Returns:
      A summary: "episodes", "steps", "return_mean", "env", "policy", "dataset" (the id, or None for a path)
      and "path".

    Raises:
      RayrlError: a bad name, an existing dataset without ``overwrite``, both or neither of ``policy`` and
        ``checkpoint``, a policy that cannot be found or raises, an unknown env, spaces rayrl cannot learn from.
    """
    if episodes < 1:
        raise RayrlError(f"record 1 or more episodes, not {episodes}")
    if (policy is None) == (checkpoint is None):
        raise RayrlError("give either a policy ('package.module:function') or a checkpoint to act with, not "
                         f"{'both' if policy is not None else 'neither'}")
    target, dataset_id = dataset_directory(out)
    _check_target(target, overwrite)
    agent = None
    if checkpoint is not None:
        from rayrl.policy import load_policy

        agent = load_policy(checkpoint)
        env = env or agent.config.env
        if env_kwargs is None and env == agent.config.env:
            env_kwargs = agent.config.env_kwargs
        where = Path(checkpoint).expanduser().absolute()
        make_act, label = (lambda _: _AgentAct(agent)), f"{agent.algo} checkpoint {where}"
    elif env is None:
        raise RayrlError("name the env to record in (--env ENV); only a checkpoint knows its own")
    else:
        make_act, label = (find_policy(policy), policy) if isinstance(policy, str) else (policy, _name_of(policy))
    environment = make_env(env, env_kwargs=env_kwargs, training=False)
    try:
        check_observation_space(environment.observation_space)
        check_action_space(environment.action_space)
        if agent is not None and (environment.observation_space, environment.action_space) != \
                (agent.observation_space, agent.action_space):
            raise RayrlError(f"{env} has other spaces than {agent.config.env}, which the checkpoint's network was "
                             f"trained on: {environment.observation_space} / {environment.action_space} against "
                             f"{agent.observation_space} / {agent.action_space}")
        environment.action_space.seed(seed)  # a scripted expert may explore with it
        act = _call_policy(label, "", make_act, environment)
        if not callable(act):
            raise RayrlError(f"policy {label} returned {type(act).__name__}, not a function act(obs) -> action")
        description = (f"{episodes} episodes of {label} on {env} (rayrl.envs.make_env, training=False, env_kwargs "
                       f"{env_kwargs or {}}), reset with seeds {seed} to {seed + episodes - 1}")
        returns, steps = _write(environment, act, label, target, dataset_id, episodes=episodes, seed=seed,
                                overwrite=overwrite, description=description)
    finally:
        environment.close()
    return {"episodes": episodes, "steps": steps, "return_mean": float(np.mean(returns)), "env": env,
            "policy": label, "dataset": dataset_id, "path": str(target)}


def find_policy(spec: str) -> MakeAct:
    """The function ``"package.module:function"`` names; a one-line error if its module or it cannot be found."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise RayrlError(f"bad policy {spec!r}: write 'package.module:function', a function(env) -> act")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RayrlError(f"cannot import module {module_name!r} of policy {spec!r} ({one_line(error)}); check the "
                         "name and that the module is installed or on PYTHONPATH") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        functions = [name for name, value in vars(module).items() if callable(value) and not name.startswith("_")]
        raise RayrlError(f"module {module_name!r} has no function {function_name!r}"
                         f"{did_you_mean(function_name, functions)} (policy {spec!r})")
    return function



def _check_target(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not (target / "data" / "metadata.json").is_file():
        raise RayrlError(f"{target} exists and is not a Minari dataset; choose another --out")
    if not overwrite:
        raise RayrlError(f"a dataset already exists at {target}; pass --overwrite to replace it, or choose another "
                         "--out (a new -vVERSION, say)")


def _name_of(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"


def _call_policy(label: str, where: str, function: Callable, argument: Any) -> Any:
    """``function(argument)``; a user's exception as one line naming the policy (--debug shows its traceback)."""
    try:
        return function(argument)
    except RayrlError:
        raise
    except Exception as error:
        raise RayrlError(f"policy {label} raised{where}: {one_line(error)}") from error


def _write(environment: gym.Env, act: Act, label: str, target: Path, dataset_id: str | None, *, episodes: int,
           seed: int, overwrite: bool, description: str) -> tuple[list[float], int]:
    """The episodes written into a hidden directory beside ``target``, renamed into place once whole."""
    import minari
    from minari.dataset.minari_storage import MinariStorage

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.recording-", dir=target.parent))
    try:
        storage = MinariStorage.new(staging / "data", observation_space=environment.observation_space,
                                    action_space=environment.action_space, data_format=DATA_FORMAT,
                                    jpeg_encoding=False)
        storage.update_metadata({"dataset_id": dataset_id or _id_of_path(target), "minari_version":
                                 minari.__version__, "algorithm_name": label, "description": description})
        returns, steps = [], 0
        for i in range(episodes):
            episode = _episode(environment, act, label, i, seed + i)
            storage.update_episodes([episode])
            returns.append(float(np.sum(episode.rewards)))
            steps += len(episode.rewards)
        _move_into_place(staging, target, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if dataset_id is not None and "/" in dataset_id:
        _add_namespace(dataset_id.rpartition("/")[0])
    return returns, steps


class _AgentAct:
    """A checkpoint's greedy policy as an ``act`` with memory: a recurrent network's state runs through each
    episode, with the reward each action earned."""

    def __init__(self, policy: Any):
        self.policy = policy
        self.reward = 0.0

    def __call__(self, obs: Any) -> Any:
        return self.policy.act(obs, prev_reward=self.reward)

    def reset(self) -> None:
        self.policy.reset()
        self.reward = 0.0

    def observe(self, reward: float) -> None:
        self.reward = reward


def _episode(environment: gym.Env, act: Act, label: str, index: int, seed: int):
    """One whole episode, reset with ``seed``, as a Minari EpisodeBuffer."""
    from minari.data_collector import EpisodeBuffer

    observation_space, action_space = environment.observation_space, environment.action_space
    obs, _ = environment.reset(seed=seed)
    if hasattr(act, "reset"):
        act.reset()
    observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
    done = False
    while not done:
        where = f" at step {len(actions)} of episode {index}"
        action = _call_policy(label, where, act, obs)
        if isinstance(action_space, gym.spaces.Box):  # a float64 action of a float32 space is fine
            action = np.asarray(action, dtype=action_space.dtype)
        if not action_space.contains(action):
            raise RayrlError(f"policy {label} gave the action {action!r}{where}, which is not in the env's action "
                             f"space {action_space}")
        obs, reward, terminated, truncated, _ = environment.step(action)
        if hasattr(act, "observe"):
            act.observe(float(reward))
        observations.append(obs)
        actions.append(np.asarray(action, dtype=action_space.dtype))
        rewards.append(float(reward))
        terminations.append(bool(terminated))
        truncations.append(bool(truncated))
        done = terminated or truncated
    return EpisodeBuffer(seed=seed, observations=np.asarray(observations, dtype=observation_space.dtype),
                         actions=np.stack(actions), rewards=rewards, terminations=terminations,
                         truncations=truncations)


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    """``staging`` renamed to ``target``; an old dataset there (``overwrite``) goes only once the new one is in."""
    old = None
    if target.exists():
        _check_target(target, overwrite)  # it may have appeared while recording
        old = target.parent / f"{staging.name}.old"
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _id_of_path(target: Path) -> str:
    """A Minari id for a dataset written to a path (Minari's metadata needs one): its directory's name, made one."""
    from minari.dataset.minari_dataset import DATASET_ID_RE

    name = target.name
    match = DATASET_ID_RE.fullmatch(name)
    if match is not None and match.group("version") is not None:
        return name
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("-_") or "demos"
    return f"{stem}-v0"


def _add_namespace(namespace: str) -> None:
    """Minari's record of a namespace, as its own dataset writer leaves it."""
    from minari.namespace import create_namespace, list_local_namespaces

    if namespace not in list_local_namespaces():
        create_namespace(namespace)


