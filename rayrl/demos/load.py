"""Demonstrations read for R2D3 (:func:`load_demos`): the spaces checked against the env's, and no code run from the
files (metadata read as JSON first, Arrow extension types refused before Minari decodes a column)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.demos.dataset import DATA_FORMAT, dataset_directory
from rayrl.errors import RayrlError, one_line


def load_demos(name_or_path: str | os.PathLike, *, observation_space: gym.Space,
               action_space: gym.Space) -> list[dict[str, np.ndarray]]:
    """The episodes of the demonstrations ``name_or_path`` (:func:`dataset_directory`), one dict per episode (the
    package's docstring), read without running code from them.

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
