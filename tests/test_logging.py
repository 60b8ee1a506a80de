"""The console progress line: the shared fields, and a parameter server's applied updates, staleness and drops."""

from __future__ import annotations

import math

from rayrl.logging import progress_line

RESULT = {"timesteps_total": 123_456, "env_steps_per_s": 14_321.4, "episode_return_mean": 123.45,
          "episodes_total": 250, "learner_updates": 345}


def test_the_line_shows_steps_rates_return_and_updates():
    line = progress_line(RESULT, 12.34)
    assert line.split() == ["12.3s", "steps", "123,456", "14,321", "steps/s", "return", "123.45", "(100", "ep)",
                            "updates", "345"]


def test_a_parameter_servers_line_adds_applied_updates_staleness_and_drops():
    line = progress_line({**RESULT, "updates_per_s": 67.2, "staleness_mean": 1.44, "staleness_max": 6.0,
                          "gradients_dropped": 1200}, 12.34)
    assert line.endswith("updates 345  67 updates/s  staleness 1.4 (max 6)  dropped 1,200")
    waiting = progress_line({**RESULT, "updates_per_s": 0.0, "staleness_mean": math.nan, "staleness_max": math.nan,
                             "gradients_dropped": 0}, 1.0)
    assert waiting.endswith("updates 345  0 updates/s  dropped 0")  # no gradient applied yet: no staleness


def test_the_last_finished_evaluation_ends_the_line():
    assert progress_line({**RESULT, "eval/return_mean": 210.54}, 1.0).endswith("updates 345  eval 210.54")
    assert "eval" not in progress_line({**RESULT, "eval/return_mean": math.nan}, 1.0)  # none has finished yet
