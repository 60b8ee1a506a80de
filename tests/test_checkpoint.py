"""Checkpoints: roundtrip, atomic replacement, one-line errors for missing/corrupt files, no code execution on load."""

import os
import pickle

import pytest
import torch

from rayrl.checkpoint import STATE_FILE, find_latest_checkpoint, load_state, save_state
from rayrl.errors import RayrlError

MARKER = "pwned.txt"


def make_state(scale: float = 1.0) -> dict:
    return {
        "algo": "impala",
        "config": {"lr": 6e-4, "hidden_sizes": [64, 64], "env": "CartPole-v1"},
        "plan": {
            "learner": {"model": {"w": torch.arange(6.0).view(2, 3) * scale, "b": torch.zeros(3, dtype=torch.int64)},
                        "version": 7},
            "history": [1, 2.5, "x", None, True, [torch.ones(2)]],
        },
    }


def assert_states_equal(actual, expected):
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_states_equal(actual[key], expected[key])
    elif isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_states_equal(a, e)
    else:
        assert actual == expected and type(actual) is type(expected)


def state_file_with(directory, content: bytes):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATE_FILE).write_bytes(content)
    return directory


def checkpoint_at(directory, mtime: float):
    path = save_state(make_state(mtime), directory)
    os.utime(path, (mtime, mtime))
    return directory


class Malicious:
    """Unpickling this would run a shell command that creates MARKER in the current directory."""

    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


def test_save_then_load_roundtrips_tensors_and_nested_containers(tmp_path):
    path = save_state(make_state(), tmp_path / "checkpoint_000001")
    assert path == tmp_path / "checkpoint_000001" / STATE_FILE
    assert_states_equal(load_state(path.parent), make_state())


def test_save_leaves_no_temporary_files(tmp_path):
    for scale in (1.0, 2.0):
        save_state(make_state(scale), tmp_path)
    assert os.listdir(tmp_path) == [STATE_FILE]
    assert_states_equal(load_state(tmp_path), make_state(2.0))


def test_a_save_that_fails_midway_keeps_the_old_checkpoint_whole(tmp_path, monkeypatch):
    save_state(make_state(1.0), tmp_path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_state(make_state(2.0), tmp_path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == [STATE_FILE]
    assert_states_equal(load_state(tmp_path), make_state(1.0))


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(RayrlError, match="no checkpoint at") as info:
        load_state(tmp_path / "nowhere")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["random_bytes", "truncated", "empty", "text"])
def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, kind):
    good = save_state(make_state(), tmp_path / "good").read_bytes()
    content = {
        "random_bytes": bytes(range(7, 256, 3)) * 20,
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "text": b"not a checkpoint",
    }[kind]
    with pytest.raises(RayrlError, match="corrupt or not a rayrl checkpoint") as info:
        load_state(state_file_with(tmp_path / "bad", content))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"hello", b".", b"Jab"], ids=["key_error", "index_error", "struct_error"])
def test_every_corrupt_checkpoint_is_a_rayrl_error(tmp_path, content):
    with pytest.raises(RayrlError):
        load_state(state_file_with(tmp_path, content))


@pytest.mark.parametrize("state", [[1, 2, 3], {"algo": "impala", "config": {}}], ids=["not_a_dict", "missing_plan"])
def test_a_torch_file_that_is_not_a_rayrl_state_is_refused(tmp_path, state):
    torch.save(state, tmp_path / STATE_FILE)
    with pytest.raises(RayrlError, match="not a rayrl checkpoint"):
        load_state(tmp_path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer, refusal", [("pickle", "corrupt or not a rayrl checkpoint"),
                                             ("torch_save", "holds objects other than tensors and was not loaded")])
def test_a_malicious_pickle_is_refused_without_running_its_code(tmp_path, monkeypatch, writer, refusal):
    monkeypatch.chdir(tmp_path)
    payload = {"algo": Malicious(), "config": {}, "plan": {}}
    if writer == "pickle":
        (tmp_path / STATE_FILE).write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, tmp_path / STATE_FILE)
    with pytest.raises(RayrlError, match=refusal) as info:
        load_state(tmp_path)
    assert "weights_only" not in str(info.value)
    assert not (tmp_path / MARKER).exists()


def test_the_malicious_payload_does_run_when_unpickled_unsafely(tmp_path, monkeypatch):
    """Guards the test above: without weights_only the same payload creates the marker file."""
    monkeypatch.chdir(tmp_path)
    pickle.loads(pickle.dumps(Malicious()))
    assert (tmp_path / MARKER).exists()


def test_find_latest_checkpoint_picks_the_newest_under_a_run_dir(tmp_path):
    run = tmp_path / "run"
    for name, mtime in [("checkpoint_000002", 2_000_000), ("checkpoint_000003", 3_000_000),
                        ("checkpoint_000001", 1_000_000)]:
        checkpoint_at(run / "trial_0" / name, mtime)
    assert find_latest_checkpoint(run) == run / "trial_0" / "checkpoint_000003"


def test_find_latest_checkpoint_goes_by_time_not_name(tmp_path):
    checkpoint_at(tmp_path / "checkpoint_000009", 1_000_000)
    checkpoint_at(tmp_path / "checkpoint_000010", 2_000_000)
    checkpoint_at(tmp_path / "checkpoint_000002", 3_000_000)  # resumed run: written last
    assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoint_000002"


def test_find_latest_checkpoint_accepts_a_checkpoint_dir_itself(tmp_path):
    old = checkpoint_at(tmp_path / "checkpoint_000001", 1_000_000)
    checkpoint_at(tmp_path / "checkpoint_000002", 2_000_000)
    assert find_latest_checkpoint(old) == old


def test_find_latest_checkpoint_expands_the_home_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    checkpoint_at(tmp_path / "run" / "checkpoint_000001", 1_000_000)
    assert find_latest_checkpoint("~/run") == tmp_path / "run" / "checkpoint_000001"


def test_find_latest_checkpoint_of_a_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(RayrlError, match="does not exist") as info:
        find_latest_checkpoint(tmp_path / "missing")
    assert "\n" not in str(info.value)


def test_find_latest_checkpoint_of_a_dir_without_checkpoints_is_a_one_line_error(tmp_path):
    (tmp_path / "checkpoint_000001").mkdir()
    (tmp_path / "checkpoint_000001" / "other.pt").write_bytes(b"")
    with pytest.raises(RayrlError, match="no checkpoint found under") as info:
        find_latest_checkpoint(tmp_path)
    assert "\n" not in str(info.value)
