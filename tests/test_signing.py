"""Study signatures: a run directory rayrl did not write, or one changed since, is refused before Tune loads it."""

from __future__ import annotations

import json
import pickle
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from rayrl.errors import RayrlError
from rayrl.tune.signing import MANIFEST, StudySigner, key_path, sign_study, verify_study
from tests.test_cli import assert_one_line_error, rayrl


class Payload:
    """Unpickling it creates ``marker``: what a crafted tuner.pkl could do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch) -> Path:
    """The study key goes under the test's own config directory (inherited by CLI subprocesses), never ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def fake_study(path: Path) -> Path:
    path.mkdir()
    (path / "tuner.pkl").write_bytes(pickle.dumps({"trainable": "x"}))
    (path / "experiment_state-2026.json").write_text('{"trial_data": []}')
    (path / "trial_0").mkdir()
    (path / "trial_0" / "result.json").write_text("{}")
    return path


def test_sign_then_verify_and_the_key_is_private(tmp_path):
    study = fake_study(tmp_path / "study")
    sign_study(study)
    verify_study(study)
    assert len(key_path().read_bytes()) == 32
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path().parent.stat().st_mode) == 0o700
    (study / "trial_0" / "result.json").write_text('{"rewritten": "by the trial"}')  # trial dirs are not signed
    verify_study(study)


@pytest.mark.parametrize("change, needle", [
    (lambda d: (d / "tuner.pkl").write_bytes((d / "tuner.pkl").read_bytes()[:-1] + b"!"), "(tuner.pkl)"),
    (lambda d: (d / "searcher-state-2026.pkl").write_bytes(b"extra"), "(searcher-state-2026.pkl)"),
    (lambda d: (d / "experiment_state-2026.json").unlink(), "(experiment_state-2026.json)"),
])
def test_a_changed_added_or_removed_state_file_is_refused(tmp_path, change, needle):
    study = fake_study(tmp_path / "study")
    sign_study(study)
    change(study)
    with pytest.raises(RayrlError, match="has been changed since rayrl wrote it") as error:
        verify_study(study)
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_no_signature_or_another_key_s_signature_is_refused(tmp_path, monkeypatch):
    study = fake_study(tmp_path / "study")
    with pytest.raises(RayrlError, match=r"not written by rayrl on this account \(no signature\)"):
        verify_study(study)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    sign_study(study)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    sign_study(fake_study(tmp_path / "ours"))  # this account has a key too, just not the one that signed
    with pytest.raises(RayrlError, match="its signature is not from the key"):
        verify_study(study)
    manifest = json.loads((study / MANIFEST).read_text())
    manifest["files"]["tuner.pkl"] = "0" * 64
    (study / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(RayrlError, match="its signature is not from the key"):
        verify_study(study)


def test_a_directory_that_is_no_study_or_has_no_experiment_state(tmp_path):
    with pytest.raises(RayrlError, match=r"is not a rayrl study directory \(no tuner.pkl\)"):
        verify_study(tmp_path)
    study = fake_study(tmp_path / "study")
    (study / "experiment_state-2026.json").unlink()
    sign_study(study)
    with pytest.raises(RayrlError, match="holds no experiment state"):
        verify_study(study)


def test_the_callback_signs_once_tunes_copy_of_its_state_has_landed(tmp_path):
    run_dir, staging = fake_study(tmp_path / "study"), tmp_path / "staging"
    staging.mkdir()
    (staging / "experiment_state-2026.json").write_text('{"trial_data": [1]}')  # saved; not yet copied
    storage = SimpleNamespace(storage_filesystem=SimpleNamespace(type_name="local"), experiment_fs_path=str(run_dir),
                              experiment_driver_staging_path=str(staging))
    signer, trials = StudySigner(), [SimpleNamespace(storage=storage)]
    signer.on_step_end(iteration=1, trials=trials)
    assert not (run_dir / MANIFEST).exists(), "signed with no experiment state saved"
    signer.get_state()  # Tune saves the experiment state
    signer.on_step_end(iteration=2, trials=trials)
    assert not (run_dir / MANIFEST).exists(), "signed before the copy landed"
    shutil.copy(staging / "experiment_state-2026.json", run_dir)
    signer.on_step_end(iteration=3, trials=trials)
    verify_study(run_dir)


def study_file(tmp_path: Path) -> str:
    path = tmp_path / "study.yaml"
    path.write_text("algo: impala\nconfig: {env: CartPole-v1}\n")
    return str(path)


def test_cli_refuses_a_foreign_study_without_loading_it(tmp_path):
    marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists(), "the payload does not run when unpickled: the test would prove nothing"
    study = fake_study(tmp_path / "foreign")
    (study / "tuner.pkl").write_bytes(pickle.dumps(Payload(marker)))
    assert_one_line_error(rayrl("tune", study_file(tmp_path), "--resume", str(study), timeout=120),
                          "not written by rayrl on this account (no signature)")
    assert not marker.exists()


def test_cli_refuses_a_directory_that_is_no_study(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(rayrl("tune", study_file(tmp_path), "--resume", str(tmp_path / "empty"), timeout=120),
                          "is not a rayrl study directory (no tuner.pkl)", "pass the directory rayrl tune printed")
