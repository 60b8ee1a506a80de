"""``rayrl compare``: the table from trials' report histories, one-line errors before Ray starts, and a short run."""

from __future__ import annotations

import math
import re

import pytest

from rayrl.tune.compare import TrialHistory, comparison_table, plot_comparison, summarize
from tests.test_cli import assert_one_line_error, rayrl

NAN = math.nan


def reports(*rows: tuple[float, float, int, int]) -> list[dict[str, float]]:
    """(time_total_s, episode_return_mean, timesteps_total, learner_updates) per report."""
    return [{"time_total_s": t, "episode_return_mean": r, "timesteps_total": steps, "learner_updates": updates}
            for t, r, steps, updates in rows]


TRIALS = [
    # Reaches 475 at 4 s, peaks at 500, ends at 450 after 8 s: 1,000 steps/s, 10 updates/s.
    TrialHistory("impala", reports((0.1, NAN, 100, 0), (2, 100, 2000, 10), (4, 480, 4000, 30), (6, 500, 6000, 50),
                                   (8, 450, 8000, 80))),
    # Reaches it at 6 s, its last report: 500 steps/s, 2 updates/s.
    TrialHistory("impala", reports((2, 200, 1000, 5), (4, 400, 2000, 8), (6, 476, 3000, 12))),
    # Never reaches it; no episode finished by its first report.
    TrialHistory("dqn", reports((2, NAN, 400, 0), (4, 50, 800, 200), (6, 120, 1200, 600))),
    TrialHistory("a3c", []),  # failed before its first report
]


def test_summary_per_algorithm_is_the_mean_over_its_seeds():
    impala, dqn, a3c = summarize(TRIALS, target=475)
    assert (impala.algo, impala.seeds, impala.reached) == ("impala", 2, 2)
    assert impala.time_to_target == pytest.approx(5.0)  # 4 s and 6 s
    assert impala.best_return == pytest.approx((500 + 476) / 2)
    assert impala.final_return == pytest.approx((450 + 476) / 2)
    assert impala.env_steps_per_s == pytest.approx((1000 + 500) / 2)
    assert impala.updates_per_s == pytest.approx((10 + 2) / 2)
    assert (dqn.seeds, dqn.reached) == (1, 0) and math.isnan(dqn.time_to_target)
    assert (dqn.best_return, dqn.final_return, dqn.env_steps_per_s, dqn.updates_per_s) == (120, 120, 200, 100)
    assert (a3c.seeds, a3c.reached) == (0, 0) and math.isnan(a3c.best_return) and math.isnan(a3c.updates_per_s)


def test_table_rows_and_never_reached():
    header, *rows = [re.split(r"\s{2,}", line.strip()) for line in comparison_table(TRIALS, 475).splitlines()]
    assert header == ["algo", "seeds", "time to 475 (s)", "reached", "best return", "final return", "env steps/s",
                      "updates/s"]
    assert rows == [["impala", "2", "5.0", "2/2", "488.0", "463.0", "750", "6.0"],
                    ["dqn", "1", "—", "0/1", "120.0", "120.0", "200", "100.0"],
                    ["a3c", "0", "—", "0/0", "—", "—", "—", "—"]]
    # The first report at or above the target counts, not a NaN one before it.
    assert comparison_table(TRIALS[2:3], 50).splitlines()[1].split()[:4] == ["dqn", "1", "4.0", "1/1"]


def test_table_without_a_target_has_no_time_to_target():
    header = comparison_table(TRIALS, None).splitlines()[0]
    assert "time to" not in header and "reached" not in header and "best return" in header


def test_plot_writes_each_path(tmp_path):
    from matplotlib.image import imread

    paths = plot_comparison(TRIALS, "CartPole-v1", [tmp_path / "run" / "a.png", tmp_path / "b.png"])
    assert paths == [tmp_path / "run" / "a.png", tmp_path / "b.png"]
    for path in paths:
        assert imread(path).std() > 0


@pytest.mark.parametrize(
    "args, needles",
    [
        (["impala,dqnn", "--env", "CartPole-v1"], ["unknown algorithm 'dqnn'", "did you mean 'dqn'"]),
        (["impala,dqn"], ["--env", "required", "'rayrl compare --help'"]),
        (["impala,dqn", "--env", "CartPole-v1", "--seeds", "0"], ["--seeds", "1 or more"]),
        (["impala,dqn", "--env", "CartPole-v1", "--seconds", "0"], ["--seconds", "above 0"]),
        (["impala,dqn", "--env", "Pendulum-v1"], ["dqn on Pendulum-v1", "action space", "Discrete"]),
        (["impala,dqn", "--env", "CartPole-v1", "--set", "buffer_size=1000"], ["impala", "unknown config key"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needles):
    assert_one_line_error(rayrl("compare", *args, timeout=60), *needles)


def test_compare_runs_both_algorithms_and_writes_the_table_and_the_png(tmp_path):
    from matplotlib.image import imread

    result = rayrl("compare", "impala,dqn", "--env", "CartPole-v1", "--seconds", "5", "--seeds", "1",
                   "--storage-path", str(tmp_path), "--name", "cmp", "--out", str(tmp_path / "copy.png"), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("algo "))
    assert "time to 475 (s)" in lines[header]  # CartPole-v1's reward_threshold
    assert [line.split()[0] for line in lines[header + 1:header + 3]] == ["impala", "dqn"]
    png = tmp_path / "cmp" / "compare_CartPole-v1.png"
    assert f"rayrl: wrote {png}" in result.stdout
    for path in (png, tmp_path / "copy.png"):
        assert imread(path).std() > 0  # not a blank canvas
    assert len(list((tmp_path / "cmp").glob("*/result.json"))) == 2
