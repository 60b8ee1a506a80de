"""What the parameter-server algorithms share (A3C, A2C, GORILA): gradients computed by workers on their
own copies of the network, applied to shared parameters by a sharded :class:`ParameterServer`. Config fields and
checks, and the server of a config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from rayrl.config import CommonConfig, check, optimizer_kwargs

if TYPE_CHECKING:  # configs load without torch, so the CLI checks its input before torch and Ray start
    from torch import nn

    from rayrl.components.parameter_server import ParameterServer


@dataclass(frozen=True)
class AsyncSGDConfig(CommonConfig):
    num_ps_shards: int = 1
    """Parameter-server shard actors (``learner_cpus`` CPUs each), each holding a block of the parameters and its
    optimizer state (GORILA: 31)."""
    publish_period: int = 1
    """Gradients an asynchronous worker pushes between pulls of the server's weights (each pull comes with a push,
    so the weights hold that gradient); A2C's rounds need 1, every round starting from the newest version."""
    max_staleness: int | None = None
    """Drop a gradient computed from parameters more than this many versions old (GORILA's rule); None keeps all."""
    sync: bool = False
    """Synchronous: wait for one gradient from every worker, all computed from one version, and apply their mean
    once (A2C); otherwise each gradient is applied as it arrives (A3C, GORILA)."""
    learner_gpus: float | None = 0
    """The server applies gradients on the CPU (the workers compute them there too)."""

    def __post_init__(self):
        super().__post_init__()
        check(self.num_ps_shards >= 1, "num_ps_shards", self.num_ps_shards, "use 1 or more")
        check(self.publish_period >= 1, "publish_period", self.publish_period, "use 1 or more gradients")
        check(self.max_staleness is None or self.max_staleness >= 0, "max_staleness", self.max_staleness,
              "use 0 or more versions, or null to keep every gradient")
        check(not (self.sync and self.publish_period != 1), "publish_period", self.publish_period,
              "use 1 with sync: every round of workers starts from the newest version")

    @property
    def learner_actors(self) -> int:
        return self.num_ps_shards


def start_server(config: AsyncSGDConfig, model_fn: Callable[[], nn.Module], *,
                 lr_anneal_samples: int = 0) -> ParameterServer:
    """The :class:`ParameterServer` of ``config`` for ``model_fn``'s parameters, initialised with its seed."""
    from rayrl.components.parameter_server import ParameterServer

    return ParameterServer(model_fn, num_shards=config.num_ps_shards, publish_period=config.publish_period,
                           seed=config.seed, num_cpus=config.learner_cpus, max_staleness=config.max_staleness,
                           lr_anneal_samples=lr_anneal_samples, **optimizer_kwargs(config))
