"""Applied updates/s of the parameter server for 1, 2 and 4 shards, with the CartPole MLP and the Nature CNN.

    python benchmarks/parameter_server.py [--shards 1 2 4] [--models mlp cnn] [--seconds 10] [--in-flight 8]

For each model and shard count: a :class:`ParameterServer` (Adam) takes gradients as asynchronous workers send
them (``ServerLink.exchange``: each gradient to every shard, answered with the weights after it) as fast as it
applies them, ``--in-flight`` exchanges queued (one per worker waiting on its answer); the shards' start and a
warm-up second are excluded. One gradient worker of that model is timed too (A3C's, in this process: a t_max
rollout and its gradient), so ``workers_sustained`` says how many such workers the server (every shard applies its
block of every gradient) keeps up with here. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time

import gymnasium as gym
import numpy as np
import ray
from common import start_local_ray

from rayrl.algorithms.a3c.config import A3CConfig
from rayrl.algorithms.a3c.loss import a3c_loss
from rayrl.components.gradient_worker import GradientWorker
from rayrl.components.parameter_server import ParameterServer
from rayrl.core import Gradients
from rayrl.models.actor_critic import ActorCritic

MODELS = {  # observation space, hidden sizes, and the env a worker of that model steps
    "mlp": (gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), (64, 64), "CartPole-v1", 16, 10),
    "cnn": (gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), (256,), "ALE/Pong-v5", 8, 5),
}


def model_fn(name: str) -> ActorCritic:
    space, hidden, *_ = MODELS[name]
    return ActorCritic(space, gym.spaces.Discrete(6 if name == "cnn" else 2), hidden)


def server_rate(name: str, shards: int, seconds: float, in_flight: int) -> dict:
    server = ParameterServer(functools.partial(model_fn, name), num_shards=shards, publish_period=1, seed=0,
                             num_cpus=1, optimizer="adam", lr=1e-4, optimizer_eps=1e-8, max_staleness=None)
    link = server.link(seconds)
    rng = np.random.default_rng(0)
    shapes = [p.shape for p in model_fn(name).parameters()]
    grads = [Gradients([rng.normal(size=s).astype(np.float32) for s in shapes], 0, 40) for _ in range(4)]
    ray.get(link.exchange(None, None, pull=True)[0])  # the shards are up
    pending: list = []
    applied = 0
    start = time.perf_counter()
    measured_from, measured_applied = None, 0
    while time.perf_counter() - start < seconds + 1.0:
        while len(pending) < in_flight:
            answer, _ = link.exchange(grads[len(pending) % len(grads)], [0] * shards, pull=True)
            pending.append(answer)
        ready, _ = ray.wait(pending, num_returns=1)
        pending.remove(ready[0])
        ray.get(ready[0])
        applied += 1
        if measured_from is None and time.perf_counter() - start >= 1.0:
            measured_from, measured_applied = time.perf_counter(), applied
    rate = (applied - measured_applied) / (time.perf_counter() - measured_from)
    server.stop()
    return {"model": name, "shards": shards, "params": int(sum(np.prod(s) for s in shapes)),
            "updates_per_s": round(rate, 1)}


def worker_rate(name: str, seconds: float) -> float:
    """Gradients/s of one A3C gradient worker of the model, in this process (one thread, as in an actor)."""
    _, hidden, env, num_envs, t_max = MODELS[name]
    config = A3CConfig(env=env, rollout_length=t_max)
    worker = GradientWorker(loss_fn=functools.partial(a3c_loss, config=config), max_grad_norm=40.0, env=env,
                            num_envs=num_envs, rollout_length=t_max, seed=0, hidden_sizes=hidden)
    worker.compute_gradients()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        worker.compute_gradients()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seconds", type=float, default=10.0, help="measured wall time per server")
    parser.add_argument("--in-flight", type=int, default=8, help="exchanges queued at the server (one per worker)")
    args = parser.parse_args()
    start_local_ray(max(args.shards))
    results = []
    for name in args.models:
        per_worker = worker_rate(name, min(args.seconds, 5.0))
        for shards in args.shards:
            row = server_rate(name, shards, args.seconds, args.in_flight)
            row.update(worker_gradients_per_s=round(per_worker, 1),
                       workers_sustained=round(row["updates_per_s"] / per_worker, 1))
            results.append(row)
    print(json.dumps({"benchmark": "parameter_server", "cpus": os.cpu_count(), "machine": platform.machine(),
                      "in_flight": args.in_flight, "results": results}))


if __name__ == "__main__":
    main()
