"""One training run, as ``rayrl train`` and ``rayrl.train(...)`` start it: a one-trial Tune run of a plan.

Everything that can be checked without a cluster is checked before Ray starts (the config, the env and its spaces,
whether a replay fits in memory), each in one line (:class:`~rayrl.errors.RayrlError`). A run resumed from a
checkpoint continues in the run directory and trial directory it came from (Tune appends to its ``result.json``
and TensorBoard files, and counts iterations, training time and checkpoints on from the checkpoint's), so its
curves continue; only a trial of a study, or a run given a ``name`` of its own, starts a new run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rayrl.algorithms import registry
from rayrl.errors import RayrlError

DEFAULT_STORAGE = "~/ray_results"
EVALUATION_PERIOD_TO_STOP_ON = 10.0
"""``evaluation_period_seconds`` of a run that stops on ``eval/return_mean`` and sets none."""


def storage_uri(path: str) -> str:
    """Where runs are written: a local path made absolute (Tune refuses relative ones), or a URI as given."""
    return path if "://" in path else str(Path(path).expanduser().resolve())


@dataclass(frozen=True)
class RunSpec:
    """A checked run: the algorithm, its config, the stop criteria and where it starts from and writes to."""

    algo: registry.Algorithm
    config: Any
    stop: dict[str, float]
    restore: str | None
    """The checkpoint it continues from."""
    transition_bytes: int
    """What a replay item (a transition, an R2D2 sequence) of its env costs, for the memory check."""


def prepare(algo_name: str | None, *, env: str | None = None, layers: list[Mapping[str, Any]] = (),
            overrides: Mapping[str, Any] | None = None, stop: Mapping[str, float] | None = None,
            resume: str | None = None) -> RunSpec:
    """Build and check a run before Ray starts: config from the algorithm's preset for the env (or the resumed
    checkpoint's config), then ``layers`` (YAML files), then ``overrides`` (``--set`` pairs, ``env``)."""
    from rayrl.checkpoint import find_latest_checkpoint, load_state
    from rayrl.config import build_config, check_stop

    layers = [dict(layer) for layer in layers]
    restore = None
    if resume:
        restore = find_latest_checkpoint(resume)
        saved = load_state(restore)
        if algo_name and algo_name.lower() != saved["algo"]:
            raise RayrlError(f"--resume checkpoint is for '{saved['algo']}', not '{algo_name}'")
        algo_name = saved["algo"]
        layers.insert(0, dict(saved["config"]))
    if not algo_name:
        raise RayrlError("name an algorithm, e.g. 'rayrl train impala --env CartPole-v1'")
    algo = registry.get(algo_name)
    overrides = dict(overrides or {})
    if env:
        overrides["env"] = env
    env = overrides.get("env") or next((layer["env"] for layer in reversed(layers) if "env" in layer), None)
    if not env:
        raise RayrlError("name an environment with --env, e.g. --env CartPole-v1")
    preset = {} if restore else algo.preset_for(env)
    config = build_config(algo.config_cls, preset, *layers, overrides)
    stop = check_stop(dict(stop or {}), "the stop criteria")
    if "eval/return_mean" in stop and config.evaluation_period_seconds is None:  # stopping on it needs it
        config = dataclasses.replace(config, evaluation_period_seconds=EVALUATION_PERIOD_TO_STOP_ON)
    return RunSpec(algo, config, stop,
                   str(restore) if restore else None, check_env(algo, config))


def check_env(algo, config) -> int:
    """Build and reset the env once here, so a bad id, bad env_kwargs or an unsupported space fails before Ray
    starts; returns what a replay item of this env costs: a transition, or an R2D2 sequence, which adds
    ``sequence_period`` new steps (its overlap with the one before is stored once)."""
    from rayrl.envs import frame_stack_depth, make_env
    from rayrl.replay import bytes_per_transition

    env = make_env(config.env, seed=config.seed, env_kwargs=config.env_kwargs)
    try:
        algo.check_spaces(env.observation_space, env.action_space)
        config.check_env_spaces(env.observation_space, env.action_space)
        space = env.observation_space
        steps = getattr(config, "sequence_period", 1)
        return steps * bytes_per_transition(space.shape, space.dtype, frame_stack=frame_stack_depth(env))
    finally:
        env.close()


def _local_ray_memory() -> float:
    """The memory a local Ray started now gives tasks and actors: what is available less its object store."""
    from ray._private.utils import estimate_available_memory, resolve_object_store_memory

    available = estimate_available_memory()
    return available - resolve_object_store_memory(available)


def _check_replay_memory(config, transition_bytes: int, memory: float) -> None:
    """A replay that cannot fit the Ray cluster's memory fails now, in one line, not when a shard runs out of
    memory an hour into the run."""
    buffer_size = getattr(config, "buffer_size", 0)
    if memory and buffer_size * transition_bytes > memory:
        fits = int(0.8 * memory / transition_bytes)
        fits = round(fits, 1 - len(str(fits)) + 1)  # two significant digits
        raise RayrlError(f"buffer_size={buffer_size:,} needs ~{buffer_size * transition_bytes / 2**30:.1f} GiB of "
                         f"replay memory, more than the Ray cluster's {memory / 2**30:.1f} GiB; lower it, e.g. "
                         f"--set buffer_size={fits}")


@contextlib.contextmanager
def ray_for(address: str | None, config, largest, transition_bytes: int, *, wait_seconds: float | None = None,
            say: Callable[[str], None] = print) -> Iterator[None]:
    """Check what needs no cluster, start or join Ray (unless this process already has), then check that the
    cluster can hold the run: ``config``'s replay (one trial's, for a study) and a trial of ``largest``, whose
    nodes, and room for its elastic workers, an autoscaler is asked for. Run the run inside; on leaving, the
    autoscaler's requests are withdrawn, so that the nodes it added go once idle."""
    import ray

    from rayrl.tune.placement import ensure_fits, request_room_to_grow, required_cpus, trial_actors, \
        withdraw_requests
    from rayrl.tune.runs import start_ray

    if ray.is_initialized():  # a Python caller's own Ray
        address = address or "auto"
    elif not address:  # a local Ray is started with enough CPUs; only its memory is known beforehand
        _check_replay_memory(config, transition_bytes, _local_ray_memory())
        start_ray(None, required_cpus(largest), actors=trial_actors(largest))
        yield
        return
    else:
        start_ray(address, required_cpus(largest))
    _check_replay_memory(config, transition_bytes, ray.cluster_resources().get("memory", 0))
    asked = ensure_fits(largest, wait_seconds=wait_seconds, say=say)
    asked = request_room_to_grow(largest) or asked
    try:
        yield
    finally:
        if asked:
            withdraw_requests()


def run_location(spec: RunSpec, name: str | None, storage_path: str | None) -> tuple[str, str, str | None]:
    """(storage path, run name, trial directory name): a resumed run's own, unless it was a trial of a study or is
    given a ``name``; else ``storage_path`` (default ``~/ray_results``) and ``ALGO_ENV_TIME``."""
    if spec.restore and not name:
        trial_dir = Path(spec.restore).parent
        run_dir = trial_dir.parent
        # Not a study's trial (its run holds a directory per trial), nor a checkpoint copied out of its run.
        if (trial_dir / "result.json").is_file() and len([p for p in run_dir.iterdir() if p.is_dir()]) == 1:
            return str(run_dir.parent), run_dir.name, trial_dir.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (storage_uri(storage_path or DEFAULT_STORAGE),
            name or f"{spec.algo.name}_{spec.config.env.replace('/', '-')}_{stamp}", None)


def fit(spec: RunSpec, *, name: str | None = None, storage_path: str | None = None, checkpoint_seconds: float = 60.0,
        max_failures: int = 2, start: float | None = None, say: Callable[[str], None] | None = print):
    """Run the trial to its stop criteria, saying where and printing its progress unless ``say`` is None; Tune's :class:`ray.tune.Result` (``path``: the trial directory,
    ``metrics``: the last report, ``checkpoint``: the last checkpoint). Ray must be up (:func:`ray_for`)."""
    from ray import tune

    from rayrl.tune.runs import run_config
    from rayrl.tune.trainable import RayrlTrainable, trial_config

    storage, run_name, trial_dir = run_location(spec, name, storage_path)
    trial_dirname = trial_dir or f"{spec.algo.name}_{spec.config.env.replace('/', '-')}"
    tuner = tune.Tuner(
        RayrlTrainable,
        param_space=trial_config(spec.algo.name, spec.config, spec.restore),
        tune_config=tune.TuneConfig(trial_dirname_creator=lambda trial: trial_dirname),
        run_config=run_config(name=run_name, storage_path=storage, stop=spec.stop, start=start or time.time(),
                              checkpoint_every=round(checkpoint_seconds / spec.config.report_seconds),
                              max_failures=max_failures, progress=say is not None),
    )
    where = "continuing in" if trial_dir else "run directory"
    if say:
        say(f"rayrl: training {spec.algo.name} on {spec.config.env}; {where} {Path(storage) / run_name}")
        if spec.config.evaluation_period_seconds is not None:
            say(f"rayrl: evaluating {spec.config.evaluation_episodes} greedy episodes every "
                f"{spec.config.evaluation_period_seconds:g}s (eval/return_mean)")
    result = tuner.fit()[0]
    if result.error:
        raise RayrlError(f"training failed: {str(result.error).strip().splitlines()[-1]}")
    return result


def train(algo: str | None = None, *, env: str | None = None, config: Mapping[str, Any] | None = None,
          stop: Mapping[str, float] | None = None, resume: str | None = None, name: str | None = None,
          storage_path: str | None = None, checkpoint_seconds: float = 60.0, max_failures: int = 2,
          address: str | None = None, verbose: bool = True):
    """Train one agent, as ``rayrl train`` does: ``rayrl.train("impala", env="CartPole-v1", config={"lr": 1e-3},
    stop={"episode_return_mean": 450})``.

    ``config`` holds the algorithm's config keys (over its preset for the env); ``stop`` Tune stop criteria on the
    reported metrics (``episode_return_mean``, ``timesteps_total``, ``time_total_s``, ``eval/return_mean``, ...);
    ``resume`` a run or checkpoint directory to continue; ``verbose`` prints the run directory and progress lines.
    Joins ``address``, or the Ray this process has already started, else starts a local one. Returns Tune's :class:`ray.tune.Result`: ``result.path`` (the trial
    directory), ``result.metrics`` (the last report), ``result.checkpoint``.
    """
    start = time.time()
    spec = prepare(algo, env=env, layers=[config or {}], stop=stop, resume=resume)
    with ray_for(address, spec.config, spec.config, spec.transition_bytes):
        return fit(spec, name=name, storage_path=storage_path, checkpoint_seconds=checkpoint_seconds,
                   max_failures=max_failures, start=start, say=print if verbose else None)
