"""Study files: the search-space syntax, the checks on a study file, and a real 2-trial study from the CLI, signed and
resumed."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ray import tune

from rayrl.errors import RayrlError
from rayrl.tune.search_space import parse_search_space
from rayrl.tune.signing import MANIFEST, verify_study
from rayrl.tune.study import load_study, make_scheduler, param_space
from tests.test_cli import assert_one_line_error, rayrl
from tests.test_signing import Payload

KEYS = ["lr", "batch_size", "gamma", "seed", "entropy_cost"]


def test_each_kind_maps_onto_tunes_domain():
    space = parse_search_space({
        "lr": {"loguniform": [1e-4, 1e-2]}, "gamma": {"uniform": [0.9, 0.99]}, "seed": {"randint": [0, 10]},
        "batch_size": {"grid": [16, 32]}, "entropy_cost": {"choice": [0.0, 0.01]},
    }, KEYS)
    assert space["batch_size"] == {"grid_search": [16, 32]}
    assert isinstance(space["lr"], tune.search.sample.Float) and space["lr"].lower == 1e-4
    assert isinstance(space["seed"], tune.search.sample.Integer) and space["seed"].upper == 10
    assert space["entropy_cost"].categories == [0.0, 0.01]
    assert {space["gamma"].lower, space["gamma"].upper} == {0.9, 0.99}


@pytest.mark.parametrize("space, needle", [
    ({"lrr": {"grid": [1]}}, "did you mean 'lr'"),
    ({"lr": {"logunifrom": [1e-4, 1e-3]}}, "did you mean 'loguniform'"),
    ({"lr": {"uniform": [1e-3, 1e-4]}}, "low < high"),
    ({"lr": {"grid": []}}, "non-empty list"),
    ({"lr": 0.1}, "must be one of"),
])
def test_bad_search_spaces_are_one_line_errors(space, needle):
    with pytest.raises(RayrlError, match=needle) as error:
        parse_search_space(space, KEYS)
    assert "\n" not in str(error.value)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return str(path)


def test_shipped_study_files_load():
    for path in Path("tune_configs").rglob("*.yaml"):
        study = load_study(str(path), {})
        assert param_space(study)["algo"] == study.algo.name


def test_pbt_mutations_join_the_param_space(tmp_path):
    study = load_study(write(tmp_path, "algo: impala\nconfig: {env: CartPole-v1}\nscheduler:\n  type: pbt\n"
                                       "  hyperparam_mutations: {lr: {loguniform: [1.0e-4, 1.0e-2]}}\n"), {})
    assert isinstance(make_scheduler(study), tune.schedulers.PopulationBasedTraining)
    assert isinstance(param_space(study)["lr"], tune.search.sample.Float)


@pytest.mark.parametrize("text, needle", [
    ("algo: impala\nconfig: {env: CartPole-v1}\nserach: {}\n", "did you mean 'search'"),
    ("algo: impala\n", "needs 'algo:' and 'config:'"),
    ("algo: impala\nconfig: {env: CartPole-v1}\nscheduler: {type: hyperband}\n", "unknown scheduler"),
    ("algo: impala\nconfig: {env: CartPole-v1}\nscheduler: {type: pbt}\n", "hyperparam_mutations"),
    ("algo: impala\nconfig: {env: CartPole-v1}\nscheduler: {type: asha, graceperiod: 3}\n", "ASHA"),
    ("algo: impala\nconfig: {env: CartPole-v1, lr: -1}\n", "'lr'"),
])
def test_bad_study_files_are_one_line_errors(tmp_path, text, needle):
    with pytest.raises(RayrlError, match=needle):
        load_study(write(tmp_path, text), {})


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """One real 2-trial study from the CLI, signed with a study key of its own: (study file, run dir, config home,
    the finished command)."""
    tmp_path = tmp_path_factory.mktemp("study")
    study = write(tmp_path, "algo: impala\nconfig: {env: CartPole-v1}\nsearch: {lr: {grid: [5.0e-4, 1.0e-3]}}\n"
                            "stop: {time_total_s: 6}\n")
    config_home = tmp_path / "config"
    result = subprocess.run([sys.executable, "-m", "rayrl.cli", "tune", study, "--storage-path", str(tmp_path),
                             "--name", "study"], capture_output=True, text=True, timeout=240,
                            env={**os.environ, "XDG_CONFIG_HOME": str(config_home)})
    return study, tmp_path / "study", config_home, result


def test_tune_cli_runs_a_two_trial_study_and_prints_a_results_table(study_run):
    _, run_dir, _, result = study_run
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout[result.stdout.index("trial "):].splitlines()
    assert "lr" in table[0] and "episode_return_mean" in table[0]
    rows = [row for row in table[1:] if "stop criterion" in row]
    assert len(rows) == 2 and {"0.0005", "0.001"} <= {row.split()[1] for row in rows}
    assert list(run_dir.rglob("events.out.tfevents.*"))


def test_the_study_is_signed_and_resumes(study_run, monkeypatch):
    study, run_dir, config_home, _ = study_run
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    verify_study(run_dir)
    resumed = rayrl("tune", study, "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    verify_study(run_dir)  # re-signed after the resumed run saved its own experiment state
    assert len(json.loads((run_dir / MANIFEST).read_text())["files"]) > 2


def test_a_tampered_study_is_refused_without_loading_it(study_run, tmp_path, monkeypatch):
    study, run_dir, config_home, _ = study_run
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    copy = Path(shutil.copytree(run_dir, tmp_path / "copy"))
    verify_study(copy)  # a signed study may move
    marker = tmp_path / "MARKER"
    (copy / "tuner.pkl").write_bytes(pickle.dumps(Payload(marker)))
    assert_one_line_error(rayrl("tune", study, "--resume", str(copy), timeout=120),
                          "has been changed since rayrl wrote it (tuner.pkl)")
    assert not marker.exists()
