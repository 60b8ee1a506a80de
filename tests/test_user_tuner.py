"""rayrl from Python: the README's example of a user's own ``tune.Tuner`` over ``rayrl.Trainable``, and ``rayrl.train``."""

from __future__ import annotations

import numpy as np


def test_a_users_own_tuner_runs_rayrl_trials_over_a_search_space(ray_session, tmp_path):
    from ray import tune

    import rayrl

    tuner = tune.Tuner(
        rayrl.Trainable,
        param_space={"algo": "impala", "env": "CartPole-v1", "lr": tune.grid_search([5e-4, 2e-3]),
                     "learner_cpus": 0.5, "worker_cpus": 0.75},  # a trial in 1.75 CPUs: CI's Ray has 2
        run_config=tune.RunConfig(name="mine", storage_path=str(tmp_path), stop={"training_iteration": 2},
                                  verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 2 and not results.errors
    assert sorted(result.config["lr"] for result in results) == [5e-4, 2e-3]
    for result in results:
        assert result.metrics["training_iteration"] == 2 and result.metrics["timesteps_total"] > 0
        assert result.metrics["num_workers"] == 1  # IMPALA's classic-control preset, not its Atari defaults


def test_rayrl_train_runs_one_trial_from_python_and_returns_tunes_result(ray_session, tmp_path):
    import rayrl

    result = rayrl.train("impala", env="CartPole-v1", config={"learner_cpus": 0.5, "worker_cpus": 0.75},
                         stop={"training_iteration": 2}, name="mine", storage_path=str(tmp_path), verbose=False)
    assert result.metrics["training_iteration"] == 2 and result.metrics["timesteps_total"] > 0
    assert result.path.startswith(str(tmp_path / "mine")) and result.checkpoint is not None
    assert result.config["algo"] == "impala"
    assert rayrl.load_policy(result.checkpoint.path).act(np.zeros((3, 4), np.float32)).shape == (3,)
