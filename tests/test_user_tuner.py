"""The README's example: a user's own ``tune.Tuner`` over ``rayrl.Trainable``, naming only the keys it sets."""

from __future__ import annotations


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
