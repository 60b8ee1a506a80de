"""Study directories are signed, so ``rayrl tune --resume`` loads only Tune state that rayrl wrote on this account.

``Tuner.restore`` unpickles the run directory's ``tuner.pkl`` and the cloudpickle blobs inside
``experiment_state-*.json``, and copies every top-level ``*.json`` and ``*.pkl`` to the driver, where the searcher and
callback states among them are unpickled too: a crafted file there runs code. rayrl keeps an HMAC-SHA256 over the
names and contents of exactly those files in ``rayrl-signature.json``, made with a per-user key kept outside any run
directory. Trial directories are left out: trials rewrite them, and rayrl loads their checkpoints with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from ray import tune

from rayrl.errors import RayrlError

MANIFEST = "rayrl-signature.json"
KEY_BYTES = 32
_UNTRUSTED = ("Tune's state files run code when loaded: start a new study, or see 'What rayrl trusts' in the "
              "README")


def key_path() -> Path:
    """The per-user key: ``$XDG_CONFIG_HOME/rayrl/study-key``, by default ``~/.config/rayrl/study-key``."""
    config = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config) if config and os.path.isabs(config) else Path.home() / ".config"  # XDG: relative = unset
    return base / "rayrl" / "study-key"


def _create_key(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".study-key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # never replaces a key: two first runs at once end up signing with the same one
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def _key(create: bool) -> bytes | None:
    path = key_path()
    if create and not path.exists():
        _create_key(path)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(key) != KEY_BYTES:
        raise RayrlError(f"{path} is not a rayrl study key ({len(key)} bytes, not {KEY_BYTES}); move it away and "
                         f"rayrl makes a new one (studies signed with the old one then cannot be resumed)")
    return key


def _state_files(run_dir: Path) -> dict[str, bytes]:
    """The files Tune reads back on restore: the top-level ``*.json`` and ``*.pkl`` (sync_down_experiment_state)."""
    files = {}
    for path in sorted(run_dir.iterdir()):
        if path.suffix in (".json", ".pkl") and path.name != MANIFEST and path.is_file():
            try:
                files[path.name] = path.read_bytes()
            except FileNotFoundError:  # a temporary file Tune renamed meanwhile
                continue
    return files


def _mac(key: bytes, digests: dict[str, str]) -> str:
    # Names end at NUL (never in a file name) and digests have a fixed length, so the message is unambiguous.
    message = "".join(f"{name}\0{digest}\n" for name, digest in sorted(digests.items()))
    return hmac.new(key, b"rayrl study v1\n" + message.encode(), hashlib.sha256).hexdigest()


def _write_manifest(run_dir: Path, files: dict[str, bytes]) -> None:
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    text = json.dumps({"files": digests, "hmac": _mac(_key(create=True), digests)}, indent=1)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".rayrl-signature-")  # no .json suffix: not a state file
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, run_dir / MANIFEST)


def sign_study(run_dir: str | os.PathLike) -> None:
    """Sign the Tune state files now in ``run_dir`` with this account's key (made on first use)."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():  # else remote storage (s3://...): nothing here to sign, and rayrl resumes local studies only
        _write_manifest(run_dir, _state_files(run_dir))


def verify_study(run_dir: str | os.PathLike) -> None:
    """Raise a one-line RayrlError unless ``run_dir`` is a study whose state files rayrl signed on this account."""
    run_dir = Path(run_dir)
    if not (run_dir / "tuner.pkl").is_file():
        raise RayrlError(f"{run_dir} is not a rayrl study directory (no tuner.pkl); pass the directory rayrl tune "
                         f"printed")
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
    except FileNotFoundError:
        raise RayrlError(f"{run_dir} was not written by rayrl on this account (no signature); {_UNTRUSTED}") from None
    except (OSError, ValueError):
        manifest = None
    signed = manifest.get("files") if isinstance(manifest, dict) else None
    key = _key(create=False)
    if (not isinstance(signed, dict) or not all(isinstance(v, str) for v in signed.values()) or key is None
            or not hmac.compare_digest(_mac(key, signed), str(manifest.get("hmac")))):
        raise RayrlError(f"{run_dir} was not written by rayrl on this account (its signature is not from the key "
                         f"{key_path()}); {_UNTRUSTED}")
    actual = {name: hashlib.sha256(data).hexdigest() for name, data in _state_files(run_dir).items()}
    changed = sorted(set(signed) ^ set(actual) | {name for name in signed.keys() & actual.keys()
                                                  if signed[name] != actual[name]})
    if changed:
        raise RayrlError(f"{run_dir} has been changed since rayrl wrote it ({', '.join(changed)}); {_UNTRUSTED}")
    if not any(name.startswith("experiment_state-") for name in actual):
        raise RayrlError(f"{run_dir} holds no experiment state (the study stopped before Tune first saved it); "
                         f"start a new study")


def _sign_if_synced(storage) -> bool:
    """Sign the run directory once Tune's background copy of its state files from the driver's staging directory
    has finished; False while the copies still differ."""
    if storage.storage_filesystem.type_name != "local":
        return True  # not a directory on this machine: nothing rayrl can resume from, nothing to sign
    run_dir = Path(storage.experiment_fs_path)
    files = _state_files(run_dir)
    staged = _state_files(Path(storage.experiment_driver_staging_path))
    if any(files.get(name) != data for name, data in staged.items()):
        return False
    _write_manifest(run_dir, files)
    return True


class StudySigner(tune.Callback):
    """Re-signs the run directory whenever Tune has rewritten its state there.

    It holds no path: it is pickled into ``tuner.pkl`` with the RunConfig, and a restored study may have moved, so
    the directory comes from the trials' storage.
    """

    def __init__(self) -> None:
        self._pending = False

    def get_state(self) -> None:
        self._pending = True  # Tune asks callbacks for their state while it saves the experiment state
        return None

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if self._pending and trials:
            self._pending = not _sign_if_synced(trials[0].storage)

    def on_experiment_end(self, trials: list, **info) -> None:
        if trials:  # Tune waited for the last copy of the state (checkpoint(force=True, wait=True)) before this
            self._pending = not _sign_if_synced(trials[0].storage)
