"""Where a dataset lives: a Minari dataset id or a filesystem path (the package's docstring), and its format."""

from __future__ import annotations

import os
from pathlib import Path

from rayrl.errors import RayrlError

DATA_FORMAT = "arrow"
PATH_STARTS = ("/", ".", "~")
"""What a filesystem path given as a dataset name starts with; no Minari dataset id can."""

ID_HELP = ("a Minari dataset id [NAMESPACE/]NAME-vVERSION (letters, digits, - and _), e.g. rayrl/cartpole-expert-v0, "
           "in $MINARI_DATASETS_PATH (default ~/.minari/datasets), or a path starting with /, . or ~")


def dataset_directory(name_or_path: str | os.PathLike) -> tuple[Path, str | None]:
    """The directory of the dataset ``name_or_path`` names (see the package's docstring) and its Minari id (None for
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
