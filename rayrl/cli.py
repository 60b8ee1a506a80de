"""The ``rayrl`` command: ``rayrl train ALGO --env ENV``; bad input ends in one line and a non-zero exit."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from rayrl.algorithms import registry
from rayrl.errors import RayrlError
from rayrl.training import DEFAULT_STORAGE, EVALUATION_PERIOD_TO_STOP_ON, storage_uri


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where help is, not the whole usage."""

    def error(self, message: str):
        self.exit(2, f"rayrl: error: {message}; see '{self.prog} --help'\n")


def _common_flags() -> argparse.ArgumentParser:
    """Flags every command takes."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", help="on an error, show the whole traceback, not one line")
    return p


def _cluster_flags(p) -> None:
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray started here)")
    p.add_argument("--wait-seconds", type=float,
                   help="on a cluster that must grow to place a trial, give up after this long (default: wait)")


def _train_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train one agent (a one-trial Tune run)", parents=[_common_flags()])
    p.add_argument("algo", nargs="?",
                   help=f"algorithm: {', '.join(registry.names())} (taken from the checkpoint with --resume)")
    p.add_argument("--env", help="gymnasium id (CartPole-v1, ALE/Pong-v5) or package.module:ClassName")
    p.add_argument("--config", help="YAML file: a mapping of config keys, or a tune_configs file (config: / stop:)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides, e.g. lr=3e-4")
    p.add_argument("--stop-return", type=float, help="stop when the mean return of the last 100 episodes reaches it")
    p.add_argument("--stop-timesteps", type=int, help="stop after this many env steps")
    p.add_argument("--stop-seconds", type=float, help="stop after this much training time")
    p.add_argument("--stop-eval-return", type=float,
                   help="stop when an evaluation during training reaches this mean return (it evaluates every "
                   f"{EVALUATION_PERIOD_TO_STOP_ON:g} s unless evaluation_period_seconds is set)")
    p.add_argument("--resume", metavar="PATH",
                   help="a run or checkpoint directory to continue from, in that run's directory")
    p.add_argument("--name", help="run name (default: ALGO_ENV_TIME; with --resume, the run's own)")
    p.add_argument("--storage-path", type=storage_uri,
                   help="where runs are written: a directory, or a URI such as s3://bucket/runs "
                   "(default ~/ray_results; with --resume, the run's own)")
    p.add_argument("--checkpoint-seconds", type=float, default=60.0, help="checkpoint period (and one at the end)")
    p.add_argument("--max-failures", type=int, default=2, help="trial restarts from the last checkpoint on a crash")
    _cluster_flags(p)
    return p


def _tune_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tune", help="a hyperparameter study from a tune_configs YAML (search space, scheduler)",
                       parents=[_common_flags()])
    p.add_argument("study", nargs="?", help="a tune_configs file, e.g. tune_configs/impala/cartpole.yaml")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="override fixed config keys")
    p.add_argument("--resume", metavar="RUN_DIR", help="restore an interrupted study from its run directory")
    p.add_argument("--name", help="study name (default: ALGO_ENV_study_TIME)")
    p.add_argument("--storage-path", type=storage_uri, default=storage_uri(DEFAULT_STORAGE),
                   help="where runs are written: a directory, or a URI such as s3://bucket/runs")
    p.add_argument("--checkpoint-seconds", type=float, default=60.0, help="checkpoint period of each trial")
    p.add_argument("--max-failures", type=int, default=2, help="restarts of a crashed trial from its checkpoint")
    _cluster_flags(p)
    return p


def _evaluate_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="evaluation episodes of a trained agent (greedy, whole games)",
                       parents=[_common_flags()])
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT", help="a run directory (its newest checkpoint) or a checkpoint")
    p.add_argument("--episodes", type=_positive_int, default=10, help="episodes, split over the CPUs (default 10)")
    p.add_argument("--env", help="evaluate on this env instead of the training env (the same spaces)")
    p.add_argument("--stochastic", action="store_true",
                   help="sample the policy (Q-networks: epsilon 0.05) instead of acting greedily")
    p.add_argument("--seed", type=int, default=0, help="the first episode's reset seed; the others count up from it")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.add_argument("--video", metavar="DIR",
                   help="record every episode as an mp4 in DIR; the episodes then run one after another here, not "
                   "on Ray, so that the files are written on this machine")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray started here)")
    return p


def _plot_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("plot", help="learning curves of run directories into a PNG", parents=[_common_flags()])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run or study directories (several seeds: mean + band)")
    p.add_argument("--x", choices=["steps", "seconds"], default="steps", help="env steps or training seconds")
    p.add_argument("--out", default="learning_curves.png", help="the PNG to write (default learning_curves.png)")
    return p


def _compare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("compare", help="algorithms side by side on one env: the same training time each, several "
                       "seeds, a table and a PNG of the learning curves", parents=[_common_flags()])
    p.add_argument("algos", metavar="ALGO[,ALGO...]", help=f"algorithms to compare: {', '.join(registry.names())}")
    p.add_argument("--env", required=True, help="gymnasium id (CartPole-v1, ALE/Pong-v5) or package.module:ClassName")
    p.add_argument("--seconds", type=_positive_float, default=60.0, help="training time of each trial (default 60)")
    p.add_argument("--seeds", type=_positive_int, default=2, help="trials per algorithm (default 2)")
    p.add_argument("--target", type=float,
                   help="the mean return whose time to reach is compared (default: the env's reward_threshold)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config overrides for every algorithm (keys they all have), e.g. num_workers=2")
    p.add_argument("--out", help="also write the PNG here (it is always written into the run directory)")
    p.add_argument("--name", help="run name (default: compare_ENV_TIME)")
    p.add_argument("--storage-path", type=storage_uri, default=storage_uri(DEFAULT_STORAGE),
                   help="where runs are written: a directory, or a URI such as s3://bucket/runs")
    _cluster_flags(p)
    return p


def _record_demos_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("record-demos", help="record expert episodes as a Minari dataset (R2D3's demos)",
                       parents=[_common_flags()])
    p.add_argument("--env", help="gymnasium id or package.module:ClassName (default with --checkpoint: its env)")
    acting = p.add_mutually_exclusive_group(required=True)
    acting.add_argument("--checkpoint", metavar="PATH", help="a trained agent's run or checkpoint, acting greedily")
    acting.add_argument("--policy", metavar="MODULE:FUNCTION",
                        help="a scripted or user policy: function(env) -> act, act(obs) -> action")
    p.add_argument("--episodes", type=_positive_int, required=True, help="whole episodes to record")
    p.add_argument("--out", required=True, metavar="NAME_OR_PATH",
                   help="a Minari dataset id [NAMESPACE/]NAME-vVERSION (letters, digits, - and _), e.g. "
                   "rayrl/cartpole-expert-v0, stored in $MINARI_DATASETS_PATH (default ~/.minari/datasets); or a "
                   "directory path starting with /, . or ~")
    p.add_argument("--seed", type=int, default=0, help="the first episode's reset seed; the others count up from it")
    p.add_argument("--env-kwargs", type=_mapping, metavar="YAML",
                   help="the env's constructor arguments as a YAML or JSON mapping, e.g. '{max_episode_steps: 200}'")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that name")
    return p


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number > 0 or math.isinf(number):
        raise argparse.ArgumentTypeError(f"use a number of seconds above 0, not {value!r}")
    return number


def _say(line: str) -> None:
    """A line of rayrl's on the console, at once (Tune's output and the trials' interleave with it)."""
    print(line, flush=True)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"use a whole number of 1 or more, not {value!r}")
    return int(value)


def _mapping(value: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(value)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"use a mapping such as '{{max_episode_steps: 200}}', not {value!r}")
    return data


def main(argv: list[str] | None = None) -> int:
    start = time.time()
    parser = _Parser(prog="rayrl", description=__doc__,
                     epilog=f"algorithms: {', '.join(registry.names())}; 'rayrl COMMAND --help' for a command's flags")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {"train": _train_parser(sub), "tune": _tune_parser(sub), "evaluate": _evaluate_parser(sub),
                "plot": _plot_parser(sub), "compare": _compare_parser(sub),
                "record-demos": _record_demos_parser(sub)}
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the command's parser, so that the pointer is to that command's --help
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return {"train": train, "tune": study, "evaluate": evaluate, "plot": plot, "compare": compare,
                "record-demos": record_demos}[args.command](args, start)
    except RayrlError as e:
        if args.debug:
            traceback.print_exception(e)
        print(f"rayrl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rayrl: interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130
    finally:
        if "ray" in sys.modules:  # stop the trial's actors before the interpreter exits, not during its teardown
            sys.modules["ray"].shutdown()


def resolve(args):
    """The run of ``rayrl train``'s command line (:class:`rayrl.training.RunSpec`), checked before Ray starts."""
    from rayrl.config import check_stop, load_yaml, parse_overrides
    from rayrl.training import prepare

    layers: list[dict[str, Any]] = []
    stop: dict[str, float] = {}
    algo_name = args.algo
    if args.config:
        data = load_yaml(args.config)
        if "config" in data:  # a tune_configs file
            algo_name = algo_name or data.get("algo")
            stop.update(check_stop(data.get("stop") or {}, args.config))
            data = data["config"] or {}
        layers.append(data)
    for flag, key in (("stop_return", "episode_return_mean"), ("stop_timesteps", "timesteps_total"),
                      ("stop_seconds", "time_total_s"), ("stop_eval_return", "eval/return_mean")):
        if getattr(args, flag) is not None:
            stop[key] = getattr(args, flag)
    return prepare(algo_name, env=args.env, layers=layers, overrides=parse_overrides(args.set), stop=stop,
                   resume=args.resume)


def train(args, start: float) -> int:
    from rayrl.training import fit, ray_for

    spec = resolve(args)
    with ray_for(args.address, spec.config, spec.config, spec.transition_bytes, wait_seconds=args.wait_seconds,
                 say=_say):
        result = fit(spec, name=args.name, storage_path=args.storage_path, checkpoint_seconds=args.checkpoint_seconds,
                     max_failures=args.max_failures, start=start, say=_say)
    metrics = result.metrics or {}
    print(f"rayrl: done after {time.time() - start:.1f}s: {metrics.get('timesteps_total', 0):,} env steps, "
          f"mean return {metrics.get('episode_return_mean', math.nan):.2f} over the last "
          f"{min(int(metrics.get('episodes_total', 0)), 100)} episodes")
    print(f"rayrl: checkpoint {result.checkpoint.path if result.checkpoint else 'none'}")
    print(f"rayrl: tensorboard --logdir {result.path}")
    return 0


def study(args, start: float) -> int:
    """``rayrl tune``: run (or ``--resume``) a study; print each trial's progress, then a results table."""
    from rayrl.config import parse_overrides

    if not args.study and not args.resume:
        raise RayrlError("name a study file, e.g. 'rayrl tune tune_configs/impala/cartpole.yaml'")
    if not args.study:
        raise RayrlError("--resume needs the study file too: rayrl tune FILE --resume RUN_DIR")
    from rayrl.tune.study import load_study

    spec = load_study(args.study, parse_overrides(args.set))
    from rayrl.training import check_env, ray_for

    transition_bytes = check_env(spec.algo, spec.config)
    from rayrl.tune.signing import sign_study, verify_study

    if args.resume:
        if not Path(args.resume).expanduser().is_dir():
            raise RayrlError(f"--resume path does not exist: {args.resume}")
        verify_study(Path(args.resume).expanduser())  # before Tune unpickles anything in it
    from rayrl.tune.study import largest_trial, results_table

    with ray_for(args.address, spec.config, largest_trial(spec), transition_bytes, wait_seconds=args.wait_seconds,
                 say=_say):
        tuner, run_dir = _study_tuner(args, spec, start)
        print(f"rayrl: study of {spec.algo.name} on {spec.config.env}; run directory {run_dir}", flush=True)
        try:
            results = tuner.fit()
        finally:  # the state Tune saved last, also after Ctrl-C
            sign_study(run_dir)
    print(results_table(results, spec))
    if any(not (r.metrics or {}).get("done") and not r.error for r in results):
        print(f"rayrl: interrupted; continue with: rayrl tune {args.study} --resume {run_dir}", file=sys.stderr)
        return 130
    print(f"rayrl: done after {time.time() - start:.1f}s; tensorboard --logdir {run_dir}")
    return 1 if results.errors and len(results.errors) == len(results) else 0


def _study_tuner(args, spec, start: float):
    """The study's Tuner, restored from ``--resume`` or new (its first state signed), and its run directory."""
    from ray import tune

    from rayrl.tune.runs import run_config
    from rayrl.tune.signing import StudySigner, sign_study
    from rayrl.tune.study import make_scheduler, param_space
    from rayrl.tune.trainable import RayrlTrainable

    if args.resume:
        run_dir = Path(args.resume).expanduser()
        return tune.Tuner.restore(str(run_dir), RayrlTrainable, resume_unfinished=True, resume_errored=True), run_dir
    env = spec.config.env.replace("/", "-")
    name = args.name or f"{spec.algo.name}_{env}_study_{time.strftime('%Y%m%d-%H%M%S')}"
    tuner = tune.Tuner(
        RayrlTrainable,
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                                    scheduler=make_scheduler(spec), max_concurrent_trials=spec.max_concurrent_trials),
        run_config=run_config(name=name, storage_path=args.storage_path, stop=spec.stop, start=start,
                              checkpoint_every=round(args.checkpoint_seconds / spec.config.report_seconds),
                              max_failures=args.max_failures, callbacks=[StudySigner()]),
    )
    run_dir = Path(args.storage_path) / name
    sign_study(run_dir)  # tuner.pkl, written by tune.Tuner()
    return tuner, run_dir


def evaluate(args, start: float) -> int:
    """``rayrl evaluate``: the checkpoint and env checked before Ray starts, then episodes on Ray tasks (with
    ``--video``, here and without Ray)."""
    import json

    from rayrl.evaluation import evaluate
    from rayrl.policy import load_policy
    from rayrl.tune.runs import start_ray

    policy = load_policy(args.path)
    summary = evaluate(policy, episodes=args.episodes, env=args.env, stochastic=args.stochastic, seed=args.seed,
                       video_dir=args.video, start_ray=lambda: start_ray(args.address, 1))
    if args.json:
        print(json.dumps(summary))
        return 0
    mode = "stochastic" if args.stochastic else "greedy"
    print(f"rayrl: {summary['algo']} on {summary['env']}, {summary['episodes']} {mode} episodes "
          f"({time.time() - start:.1f}s)")
    for key, digits in (("return", 2), ("length", 1)):
        values = "  ".join(f"{stat} {summary[f'{key}_{stat}']:.{digits}f}" for stat in ("mean", "std", "min", "max"))
        print(f"  {key:<7}{values}")
    if args.video is not None:
        print(f"rayrl: videos in {args.video} ({len(summary['videos'])} files)")
    return 0


def plot(args, start: float) -> int:
    """``rayrl plot``: one PNG of the runs' learning curves."""
    from rayrl.plot import plot

    print(f"rayrl: wrote {plot(args.runs, args.out, x=args.x)}")
    return 0


def compare(args, start: float) -> int:
    """``rayrl compare``: one study of algorithm x seed on the env, the same training time each; a table, a PNG."""
    from rayrl.config import parse_overrides
    from rayrl.tune.compare import comparison_table, plot_comparison, prepare_comparison, run_comparison, \
        trial_histories

    comparison = prepare_comparison(args.algos.split(","), args.env, seconds=args.seconds, seeds=args.seeds,
                                    target=args.target, overrides=parse_overrides(args.set))
    from rayrl.training import ray_for

    env = comparison.env.replace("/", "-")
    name = args.name or f"compare_{env}_{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = f"{args.storage_path}/{name}"
    with ray_for(args.address, comparison.largest_replay, comparison.largest_trial, comparison.transition_bytes,
                 wait_seconds=args.wait_seconds, say=_say):
        print(f"rayrl: comparing {', '.join(comparison.configs)} on {comparison.env}: {len(comparison.seeds)} "
              f"seed(s) x {args.seconds:g}s of training each; run directory {run_dir}", flush=True)
        results = run_comparison(comparison, name=name, storage_path=args.storage_path, start=start)
    trials = trial_histories(results, comparison)
    print(comparison_table(trials, comparison.target))
    failed = [r for r in results if r.error]
    if failed:
        print(f"rayrl: {len(failed)} of {len(results)} trials failed; the first: "
              f"{str(failed[0].error).strip().splitlines()[-1]}", file=sys.stderr)
    # The PNG goes into the run directory where that is on this machine (not s3://...), and to --out.
    paths = ([] if "://" in run_dir else [Path(run_dir) / f"compare_{env}.png"]) + ([args.out] if args.out else [])
    for path in plot_comparison(trials, comparison.env, paths or [f"compare_{env}.png"]):
        print(f"rayrl: wrote {path}")
    if any(not (r.metrics or {}).get("done") and not r.error for r in results):
        print("rayrl: interrupted; the table and curves show the training so far", file=sys.stderr)
        return 130
    print(f"rayrl: done after {time.time() - start:.1f}s; tensorboard --logdir {run_dir}")
    return 1 if len(failed) == len(results) else 0


def record_demos(args, start: float) -> int:
    """``rayrl record-demos``: episodes of a checkpoint or a policy, here and without Ray, as a Minari dataset."""
    from rayrl.demos import record_demos

    summary = record_demos(args.out, episodes=args.episodes, env=args.env, policy=args.policy,
                           checkpoint=args.checkpoint, seed=args.seed, env_kwargs=args.env_kwargs,
                           overwrite=args.overwrite)
    where = f"Minari dataset {summary['dataset']!r} at" if summary["dataset"] else "Minari dataset"
    print(f"rayrl: recorded {summary['episodes']} episodes, {summary['steps']:,} steps, mean return "
          f"{summary['return_mean']:.2f} on {summary['env']} into {where} {summary['path']} "
          f"({time.time() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
