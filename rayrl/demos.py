"""Expert demonstrations as Minari datasets: recorded by ``rayrl record-demos``, read by :func:`load_demos` for R2D3.

R2D3 (Paine et al. 2019, arXiv 1909.01387) draws a share of every learner batch from a replay of expert
demonstrations. They are stored in Farama's Minari format (``minari``), so that they can be inspected, shared and
read with its tools: a dataset is a directory holding ``data/metadata.json`` (the spaces as JSON, the counts) and,
per episode ``i``, ``data/i/`` (the steps as one Arrow IPC file, and its ``metadata.json``: its length and seed).

Storage backend: Minari's ``arrow`` (pyarrow, which Ray already brings), not ``hdf5``. Both read without pickle,
but only Arrow needs no package besides; Minari deserialises the spaces from JSON either way. Images are stored
raw (``jpeg_encoding=False``), as Minari's default JPEG is lossy. Loading runs no code from the dataset:
:func:`load_demos` reads the metadata as JSON first and refuses a dataset without its spaces (Minari would build
its env from the recorded ``env_spec`` instead, importing the env's module), and refuses Arrow extension types
(Ray's pickled-object columns unpickle when read) before Minari decodes a column.

Names (``--out`` of ``rayrl record-demos``, R2D3's ``demos``): a filesystem path when it starts with ``/``, ``.`` or
``~`` (``./demos/cartpole``), which no Minari id can; otherwise a Minari dataset id ``[NAMESPACE/]NAME-vVERSION``
(letters, digits, ``-`` and ``_``; the namespace may nest with ``/``; the version is a whole number, e.g.
``rayrl/cartpole-expert-v0``), stored in Minari's local datasets directory: ``$MINARI_DATASETS_PATH``, else
``~/.minari/datasets``. Either way the dataset directory has the same layout, so ``minari`` reads both.

Episodes, as :func:`load_demos` returns them (the per-step names of the replay's items), with T steps:
  obs         [T + 1, *obs_shape]  the observation before each step, then the one after the last step
  action      [T, *action_shape]   the action's dtype (int64 for Discrete)
  reward      [T] float32
  terminated  [T] bool,  truncated [T] bool   an episode ends at its last step, and only there
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.envs import make_env
from rayrl.errors import RayrlError, did_you_mean, one_line
from rayrl.models.spaces import check_action_space, check_observation_space

DATA_FORMAT = "arrow"
PATH_STARTS = ("/", ".", "~")
"""What a filesystem path given as a dataset name starts with; no Minari dataset id can."""

ID_HELP = ("a Minari dataset id [NAMESPACE/]NAME-vVERSION (letters, digits, - and _), e.g. rayrl/cartpole-expert-v0, "
           "in $MINARI_DATASETS_PATH (default ~/.minari/datasets), or a path starting with /, . or ~")

Act = Callable[[Any], Any]
MakeAct = Callable[[gym.Env], Act]


def dataset_directory(name_or_path: str | os.PathLike) -> tuple[Path, str | None]:
    """The directory of the dataset ``name_or_path`` names (see the module's docstring) and its Minari id (None for
    a path); a one-line error for a name that is neither."""
    from minari.dataset.minari_dataset import DATASET_ID_RE

    name = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or name.startswith(PATH_STARTS):
        return Path(name).expanduser().absolute(), None
    match = DATASET_ID_RE.fullmatch(name)
    if match is None or match.group("version") is None:
        suggestion = f"; did you mean '{name}-v0'?" if match is not None else ""
        raise RayrlError(f"bad dataset name {name!r}: use {ID_HELP}{suggestion}")
    from minari.storage import get_dataset_path

    return get_dataset_path(name), name


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


def load_demos(name_or_path: str | os.PathLike, *, observation_space: gym.Space,
               action_space: gym.Space) -> list[dict[str, np.ndarray]]:
    """The episodes of the demonstrations ``name_or_path`` (:func:`dataset_directory`), one dict per episode (the
    module's docstring), read without running code from them.

    Args:
      observation_space, action_space: the env's; the dataset's must be the same.

    Raises:
      RayrlError: one line for a bad name, a missing, empty, corrupt or foreign dataset, or other spaces.
    """
    from minari.serialization import deserialize_space

    directory, dataset_id = dataset_directory(name_or_path)
    where = f"dataset {dataset_id!r} ({directory})" if dataset_id else f"dataset {directory}"
    data = directory / "data"
    if not (data / "metadata.json").is_file() and (directory / "metadata.json").is_file():
        data = directory  # the path of a dataset's data directory
    if not (data / "metadata.json").is_file():
        hint = "record it with 'rayrl record-demos'" + (" (set MINARI_DATASETS_PATH if it lies elsewhere)"
                                                        if dataset_id else "")
        raise RayrlError(f"no demonstrations at {where}: {hint}")
    try:
        metadata = json.loads((data / "metadata.json").read_text())
        if metadata.get("data_format") != DATA_FORMAT:
            raise RayrlError(f"{where} is stored as {metadata.get('data_format')!r}; rayrl reads Minari's "
                             f"{DATA_FORMAT!r} format (write it with data_format='{DATA_FORMAT}')")
        if "observation_space" not in metadata or "action_space" not in metadata:
            raise RayrlError(f"{where} does not record its observation and action spaces; rayrl does not build "
                             "an env from a dataset's env_spec to find them")
        spaces = deserialize_space(metadata["observation_space"]), deserialize_space(metadata["action_space"])
        total = int(metadata["total_episodes"])
    except RayrlError:
        raise
    except Exception as error:  # not JSON, or not what Minari writes
        raise RayrlError(f"{where} is corrupt or not a Minari dataset: metadata.json: {one_line(error)}") from None
    if spaces != (observation_space, action_space):
        raise RayrlError(f"{where} holds observations {spaces[0]} and actions {spaces[1]}, but the env has "
                         f"{observation_space} and {action_space}: record demonstrations in this env")
    if total < 1:
        raise RayrlError(f"{where} holds no episodes: record some with 'rayrl record-demos'")
    try:
        return _read_episodes(data, metadata, spaces)
    except RayrlError as error:
        raise RayrlError(f"{where} is corrupt: {error}") from None
    except Exception as error:  # a truncated or unreadable file, whatever part of pyarrow or Minari finds it
        raise RayrlError(f"{where} is corrupt or unreadable: {one_line(error)}") from None


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


def _read_episodes(data: Path, metadata: dict[str, Any], spaces: tuple[gym.Space, gym.Space]):
    """Each episode's arrays, its columns checked before Minari decodes them."""
    from minari import MinariDataset

    dataset = MinariDataset(data)
    episodes, steps = [], 0
    for i, info in enumerate(dataset.storage.get_episode_metadata(range(int(metadata["total_episodes"])))):
        _check_columns(data / str(i), *spaces, jpeg=bool(metadata.get("jpeg_encoding", True)))
        episode = next(dataset.iterate_episodes([i]))
        length = len(episode.rewards)
        demo = {"obs": np.asarray(episode.observations, dtype=spaces[0].dtype),
                "action": np.asarray(episode.actions, dtype=spaces[1].dtype),
                "reward": np.asarray(episode.rewards, dtype=np.float32),
                "terminated": np.asarray(episode.terminations, dtype=bool),
                "truncated": np.asarray(episode.truncations, dtype=bool)}
        ends = demo["terminated"] | demo["truncated"]
        if length < 1 or length != int(info["total_steps"]) or len(demo["obs"]) != length + 1:
            raise RayrlError(f"episode {i} has {length} steps and {len(demo['obs'])} observations, its metadata "
                             f"{info['total_steps']} steps")
        if not ends[-1] or ends[:-1].any():
            raise RayrlError(f"episode {i} does not end (terminated or truncated) at its last step and only there")
        episodes.append(demo)
        steps += length
    if steps != int(metadata["total_steps"]):
        raise RayrlError(f"its episodes hold {steps} steps, its metadata {metadata['total_steps']}")
    return episodes


def _check_columns(directory: Path, observation_space: gym.Space, action_space: gym.Space, *, jpeg: bool) -> None:
    """The columns of an episode's Arrow file are the plain types its spaces are stored as: no extension type (a
    registered one may run code when read, as Ray's pickled objects do)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from minari.dataset.minari_storage import is_image_space

    schema = ds.dataset(directory, format=DATA_FORMAT, ignore_prefixes=["_", ".", "metadata.json"]).schema
    for field in schema:
        if _has_extension_type(field.type):
            raise RayrlError(f"column {field.name!r} of episode {directory.name} is of the extension type "
                             f"{field.type}, which rayrl does not read")

    def stored(space: gym.Space) -> pa.DataType:
        if jpeg and is_image_space(space):
            return pa.binary()
        if isinstance(space, gym.spaces.Box):
            return pa.list_(pa.from_numpy_dtype(space.dtype), math.prod(space.shape))
        return pa.from_numpy_dtype(space.dtype)

    expected = {"observations": stored(observation_space), "actions": stored(action_space),
                "terminations": pa.bool_(), "truncations": pa.bool_()}
    for name, kind in expected.items():
        if name not in schema.names or schema.field(name).type != kind:
            found = schema.field(name).type if name in schema.names else "no such column"
            raise RayrlError(f"column {name!r} of episode {directory.name} is {found}, not {kind}")
    rewards = schema.field("rewards").type if "rewards" in schema.names else None
    if rewards is None or not (pa.types.is_floating(rewards) or pa.types.is_integer(rewards)):
        raise RayrlError(f"episode {directory.name} has no numeric rewards column")


def _has_extension_type(kind) -> bool:
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        return True
    if isinstance(kind, (pa.ListType, pa.LargeListType, pa.FixedSizeListType)):
        return _has_extension_type(kind.value_type)
    if isinstance(kind, pa.StructType):
        return any(_has_extension_type(kind.field(i).type) for i in range(kind.num_fields))
    if isinstance(kind, pa.MapType):
        return _has_extension_type(kind.key_type) or _has_extension_type(kind.item_type)
    return False
