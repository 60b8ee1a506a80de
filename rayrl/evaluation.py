"""Evaluation episodes of a checkpoint's policy, on Ray workers in parallel: what ``rayrl evaluate`` runs.

Episodes are whole games without the training transforms (``make_env(training=False)``: no reward clipping, no
life loss as an episode end on Atari), greedy unless ``stochastic`` (see :class:`~rayrl.policy.Policy`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rayrl.envs import make_env
from rayrl.errors import RayrlError
from rayrl.policy import Policy


def run_episodes(policy: Policy, *, env: str, env_kwargs: dict[str, Any] | None, episodes: int, seed: int,
                 stochastic: bool) -> tuple[list[float], list[int]]:
    """``episodes`` whole episodes of ``policy`` on one ``env`` (reset with seeds ``seed``, ``seed + 1``, ...); their
    returns and lengths."""
    environment = make_env(env, env_kwargs=env_kwargs, training=False)
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = environment.reset(seed=seed + i)
        total, steps, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = environment.step(policy.act(obs, stochastic=stochastic))
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
    environment.close()
    return returns, lengths


def evaluation_env(policy: Policy, env: str | None) -> tuple[str, dict[str, Any] | None]:
    """The env to evaluate ``policy`` on (``env``, else its training env, with the training env's kwargs) and its
    kwargs; a one-line error if its spaces are not those the policy's network was built for."""
    env_id = env or policy.config.env
    env_kwargs = policy.config.env_kwargs if env_id == policy.config.env else None
    probe = make_env(env_id, env_kwargs=env_kwargs, training=False)
    spaces = (probe.observation_space, probe.action_space)
    probe.close()
    if spaces != (policy.observation_space, policy.action_space):
        raise RayrlError(f"{env_id} has other spaces than {policy.config.env}, which the checkpoint's network was "
                         f"trained on: {spaces[0]} / {spaces[1]} against {policy.observation_space} / "
                         f"{policy.action_space}")
    return env_id, env_kwargs


def evaluate(policy: Policy, *, episodes: int, env: str | None = None, stochastic: bool = False,
             seed: int = 0) -> dict[str, Any]:
    """``episodes`` episodes of ``policy`` split over as many Ray tasks (one CPU each) as the cluster has CPUs for,
    on ``env`` (:func:`evaluation_env`); the summary: mean, std, min and max of the returns and lengths."""
    import ray

    env_id, env_kwargs = evaluation_env(policy, env)
    tasks = max(1, min(episodes, int(ray.available_resources().get("CPU", 1))))
    shares = [episodes // tasks + (i < episodes % tasks) for i in range(tasks)]
    firsts = np.cumsum([0, *shares[:-1]]).tolist()
    policy_ref = ray.put(policy)
    remote = ray.remote(num_cpus=1)(run_episodes)
    results = ray.get([remote.remote(policy_ref, env=env_id, env_kwargs=env_kwargs, episodes=n, seed=seed + first,
                                     stochastic=stochastic) for n, first in zip(shares, firsts)])
    returns = np.array([r for rs, _ in results for r in rs])
    lengths = np.array([n for _, ns in results for n in ns])
    return {"algo": policy.algo, "env": env_id, "episodes": episodes, "stochastic": stochastic,
            "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "return_min": float(returns.min()), "return_max": float(returns.max()),
            "length_mean": float(lengths.mean()), "length_std": float(lengths.std()),
            "length_min": int(lengths.min()), "length_max": int(lengths.max())}
