"""``rayrl plot``: curves read from Tune's result.json files, seeds of one config as a mean with a band, a PNG."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rayrl.errors import RayrlError
from rayrl.plot import Curve, mean_and_band, plot, read_trials


def write_trial(directory, config: dict, rows: list[tuple[int, float, float]]) -> None:
    directory.mkdir(parents=True)
    lines = [json.dumps({"timesteps_total": steps, "time_total_s": seconds, "episode_return_mean": ret,
                         "config": config}) for steps, seconds, ret in rows]
    (directory / "result.json").write_text("\n".join(lines) + "\n")


@pytest.fixture
def runs(tmp_path):
    base = {"algo": "impala", "env": "CartPole-v1", "lr": 0.001}
    for seed in (0, 1):
        write_trial(tmp_path / "study" / f"trial_{seed}", {**base, "seed": seed},
                    [(0, 0.0, float("nan")), (1000, 1.0, 20.0 + seed), (2000, 2.0, 100.0 + 50 * seed)])
    write_trial(tmp_path / "other" / "trial_0", {**base, "lr": 0.002, "seed": 0}, [(500, 1.5, 10.0), (3000, 3.0, 400.0)])
    return tmp_path


def test_seeds_of_one_config_are_one_group_labelled_by_what_differs(runs):
    groups = read_trials([runs / "study", runs / "other"], "steps")
    assert sorted(groups) == ["impala CartPole-v1 lr=0.001", "impala CartPole-v1 lr=0.002"]
    seeds = groups["impala CartPole-v1 lr=0.001"]
    assert len(seeds) == 2 and list(seeds[0].x) == [1000, 2000]  # the report without a return is left out
    assert list(read_trials([runs / "other"], "seconds")["impala CartPole-v1"][0].x) == [1.5, 3.0]


def test_the_band_carries_each_seed_forward_to_a_common_grid():
    a = Curve("a", np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]))
    b = Curve("b", np.array([0.0, 5.0, 20.0]), np.array([2.0, 4.0, 6.0]))
    grid, mean, low, high = mean_and_band([a, b], points=3)
    np.testing.assert_array_equal(grid, [0, 10, 20])
    np.testing.assert_array_equal(mean, [1, 7, 13])
    np.testing.assert_array_equal(low, [0, 4, 6])
    np.testing.assert_array_equal(high, [2, 10, 20])


def test_the_png_holds_a_drawn_figure(runs):
    import matplotlib.pyplot as plt

    out = plot([runs / "study", runs / "other"], runs / "figures" / "curves.png")
    image = plt.imread(out)
    assert image.shape[:2] == (500, 800) and image[..., :3].std() > 0.05  # 8 x 5 inches at 100 dpi, not blank


def test_a_directory_without_results_is_a_one_line_error(tmp_path):
    with pytest.raises(RayrlError, match="no result.json"):
        read_trials([tmp_path], "steps")
    done = subprocess.run([sys.executable, "-m", "rayrl.cli", "plot", str(tmp_path / "missing")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "does not exist" in done.stderr


def test_rayrl_plot_writes_the_png_it_names(runs):
    done = subprocess.run([sys.executable, "-m", "rayrl.cli", "plot", str(runs / "study"), "--x", "seconds", "--out",
                           str(runs / "out.png")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (runs / "out.png").stat().st_size > 10_000 and str(runs / "out.png") in done.stdout
