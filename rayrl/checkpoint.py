"""Checkpoint files: written atomically, read without executing code from them (``weights_only=True``)."""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

from rayrl.errors import RayrlError, one_line

STATE_FILE = "rayrl_state.pt"
OBJECT_REFUSALS = ("unsupported global", "unrecognized function", "unsupported class")
"""What torch's weights-only unpickler says when a file asks for an object it will not build (its advice to turn
weights_only off is never passed on)."""


def save_state(state: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) into ``directory`` atomically: temp file + rename."""
    import torch  # here, not at the top: the CLI reads configs without paying for torch's import

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / STATE_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return directory / STATE_FILE


def load_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The state saved in ``directory``; a one-line error if it is missing or corrupt."""
    import torch

    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise RayrlError(f"no checkpoint at {directory} (expected {STATE_FILE}); pass a run or checkpoint directory")
    try:
        with warnings.catch_warnings():  # torch's advice on this path is to turn weights_only off: never
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if any(refusal in str(e).lower() for refusal in OBJECT_REFUSALS):  # a well-formed pickle of code, not garbage
            raise RayrlError(f"checkpoint {path} holds objects other than tensors and was not loaded") from None
        raise RayrlError(f"checkpoint {path} is corrupt or not a rayrl checkpoint (not a torch file)") from None
    except Exception as e:  # any failure to read it (truncated, foreign, unsafe) means: not a usable checkpoint
        raise RayrlError(f"checkpoint {path} is corrupt or not a rayrl checkpoint ({one_line(e)})") from None
    if not isinstance(state, dict) or not {"algo", "config", "plan"} <= set(state):
        raise RayrlError(f"checkpoint {path} is not a rayrl checkpoint (missing algo/config/plan)")
    return state


def find_latest_checkpoint(path: str | os.PathLike) -> Path:
    """``path`` itself if it is a checkpoint, else the newest checkpoint directory below it (a run directory)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise RayrlError(f"run or checkpoint directory does not exist: {path}")
    if (path / STATE_FILE).is_file():
        return path
    found = sorted(path.rglob(STATE_FILE), key=lambda p: p.stat().st_mtime)
    if not found:
        raise RayrlError(f"no checkpoint found under {path}; pass a run directory that has checkpoint_* folders")
    return found[-1].parent
