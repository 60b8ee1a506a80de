"""Evaluation episodes of a checkpoint's policy, on Ray workers in parallel: what ``rayrl evaluate`` runs.

Episodes are whole games without the training transforms (``make_env(training=False)``: no reward clipping, no
life loss as an episode end on Atari), greedy unless ``stochastic`` (see :class:`~rayrl.policy.Policy`).

With a ``video_dir``, gymnasium's ``RecordVideo`` writes each episode as an mp4 of the env's ``rgb_array`` frames
(Atari: the 210x160 RGB game screen, one frame per agent step) named ``ALGO-ENV-seedS-episode-I.mp4``: the I-th
episode of the evaluation, reset with seed S.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.envs import make_env
from rayrl.errors import RayrlError, one_line
from rayrl.policy import Policy


def run_episodes(policy: Policy, *, env: str, env_kwargs: dict[str, Any] | None, episodes: int, seed: int,
                 stochastic: bool, video_dir: str | None = None) -> tuple[list[float], list[int]]:
    """``episodes`` whole episodes of ``policy`` on one ``env`` (reset with seeds ``seed``, ``seed + 1``, ...); their
    returns and lengths. With ``video_dir``, each episode is also an mp4 there (:func:`video_files`)."""
    if video_dir is None:
        environment = make_env(env, env_kwargs=env_kwargs, training=False)
    else:
        environment = _recording_env(env, env_kwargs, video_dir)
    returns, lengths = [], []
    try:
        for i in range(episodes):
            if video_dir is not None:  # RecordVideo names the file at reset: f"{name_prefix}-episode-{i}"
                environment.name_prefix = _video_prefix(policy.algo, env, seed + i)
            obs, _ = environment.reset(seed=seed + i)
            policy.reset()
            total, steps, done, reward = 0.0, 0, False, 0.0
            while not done:
                action = policy.act(obs, stochastic=stochastic, prev_reward=reward)
                obs, reward, terminated, truncated, _ = environment.step(action)
                total, steps, done = total + float(reward), steps + 1, terminated or truncated
            returns.append(total)
            lengths.append(steps)
    finally:
        environment.close()  # RecordVideo writes the last episode's file here
    return returns, lengths


def video_files(policy: Policy, *, env: str, episodes: int, seed: int, video_dir: str) -> list[str]:
    """The mp4 files that :func:`run_episodes` with these arguments writes, one per episode."""
    return [os.path.join(video_dir, f"{_video_prefix(policy.algo, env, seed + i)}-episode-{i}.mp4")
            for i in range(episodes)]


def _video_prefix(algo: str, env: str, seed: int) -> str:
    return f"{algo}-{env.replace('/', '-').replace(':', '-')}-seed{seed}"


def _recording_env(env: str, env_kwargs: dict[str, Any] | None, video_dir: str) -> gym.Env:
    """The evaluation env in RecordVideo, recording every episode into ``video_dir``; a one-line error if that
    directory cannot be made or written to, or the env cannot draw its frames."""
    from gymnasium.wrappers import RecordVideo

    try:
        os.makedirs(video_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=video_dir):  # os.access says yes to root even on a read-only file system
            pass
    except OSError as error:
        raise RayrlError(f"cannot write videos to {video_dir}: {one_line(error)}") from error
    # pygame, which draws the classic-control envs, looks for a sound card and a display, and fills stderr with
    # complaints on a headless machine; drawing into an array needs neither. Nor its greeting on import.
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    environment = make_env(env, env_kwargs=env_kwargs, training=False, render_mode="rgb_array")
    try:  # one frame first, so that a missing drawing package is one line, before RecordVideo has any to warn of
        environment.reset()
        environment.render()
    except gym.error.DependencyNotInstalled as error:  # pygame, for the classic-control envs
        environment.close()
        raise RayrlError(f"env {env!r} cannot render a video: {error}") from error
    with warnings.catch_warnings():  # it warns of any existing directory, as ours now is; a file is only
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos")  # replaced by the same episode
        return RecordVideo(environment, video_dir, episode_trigger=lambda i: True)


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


def evaluate(policy: Policy, *, episodes: int, env: str | None = None, stochastic: bool = False, seed: int = 0,
             video_dir: str | None = None, start_ray: Callable[[], Any] | None = None) -> dict[str, Any]:
    """``episodes`` episodes of ``policy`` split over as many Ray tasks (one CPU each) as the cluster has CPUs for,
    on ``env`` (:func:`evaluation_env`); the summary: mean, std, min and max of the returns and lengths.
    ``start_ray`` is called once the env has been checked, before the tasks start (the CLI starts or joins Ray
    there, so that a bad env is one line before any of Ray's).

    With ``video_dir``, every episode runs here, in this process, without Ray, and is recorded as an mp4 in
    ``video_dir`` (:func:`run_episodes`): the files land on this machine even where Ray's workers are on others. The
    summary's "videos" lists them.
    """
    env_id, env_kwargs = evaluation_env(policy, env)
    if video_dir is None:
        if start_ray is not None:
            start_ray()
        results = _on_ray_tasks(policy, env_id, env_kwargs, episodes=episodes, seed=seed, stochastic=stochastic)
    else:
        results = [run_episodes(policy, env=env_id, env_kwargs=env_kwargs, episodes=episodes, seed=seed,
                                stochastic=stochastic, video_dir=video_dir)]
    returns = np.array([r for rs, _ in results for r in rs])
    lengths = np.array([n for _, ns in results for n in ns])
    summary = {"algo": policy.algo, "env": env_id, "episodes": episodes, "stochastic": stochastic,
               "return_mean": float(returns.mean()), "return_std": float(returns.std()),
               "return_min": float(returns.min()), "return_max": float(returns.max()),
               "length_mean": float(lengths.mean()), "length_std": float(lengths.std()),
               "length_min": int(lengths.min()), "length_max": int(lengths.max())}
    if video_dir is not None:
        summary["videos"] = video_files(policy, env=env_id, episodes=episodes, seed=seed, video_dir=video_dir)
    return summary


def _on_ray_tasks(policy: Policy, env: str, env_kwargs: dict[str, Any] | None, *, episodes: int, seed: int,
                  stochastic: bool) -> list[tuple[list[float], list[int]]]:
    """:func:`run_episodes` on one Ray task per available CPU (at most one per episode), the seeds counting on."""
    import ray

    tasks = max(1, min(episodes, int(ray.available_resources().get("CPU", 1))))
    shares = [episodes // tasks + (i < episodes % tasks) for i in range(tasks)]
    firsts = np.cumsum([0, *shares[:-1]]).tolist()
    policy_ref = ray.put(policy)
    remote = ray.remote(num_cpus=1)(run_episodes)
    return ray.get([remote.remote(policy_ref, env=env, env_kwargs=env_kwargs, episodes=n, seed=seed + first,
                                  stochastic=stochastic) for n, first in zip(shares, firsts)])
