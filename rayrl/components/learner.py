"""The learner: owns the model and optimizer (on the GPU when torch sees one) and applies an algorithm's loss."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from rayrl.core import Batch, Weights

# Batches arrive read-only from the object store; the loss never writes to them, so sharing them is safe.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

LossFn = Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]]
"""``loss_fn(model, batch) -> (scalar loss, {name: scalar tensor})``: an algorithm's pure loss."""


def make_optimizer(params, *, name: str, lr: float, eps: float, rmsprop_decay: float, momentum: float):
    """RMSProp as in the DQN/A3C/IMPALA papers, or Adam."""
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=rmsprop_decay, eps=eps, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps)
    raise ValueError(f"unknown optimizer {name!r}")


class Learner:
    """Takes batches (dicts of numpy arrays), joins them along the batch axis, and takes one gradient step each.

    Batches are joined by ``join`` (rollouts: ``join_rollouts``), or by concatenating every field along
    ``batch_axis`` (1 for time-major batches ``[T, B, ...]``, 0 for transitions); each update counts the samples of
    ``samples_key`` (one per env step); ``lr`` decays linearly to 0 over ``lr_anneal_samples`` trained samples
    (0 keeps it constant), as in A3C and IMPALA.
    """

    def __init__(
        self,
        *,
        model_fn: Callable[[], nn.Module],
        loss_fn: LossFn,
        optimizer: str,
        lr: float,
        optimizer_eps: float,
        rmsprop_decay: float = 0.99,
        momentum: float = 0.0,
        max_grad_norm: float = 40.0,
        lr_anneal_samples: int = 0,
        batch_axis: int = 1,
        join: Callable[[Sequence[Batch]], Batch] | None = None,
        samples_key: str = "rewards",
        device: str | None = None,
        num_threads: int | None = None,
        seed: int | None = None,
    ):
        if seed is not None:  # the initial weights, which every worker then pulls
            torch.manual_seed(seed)
        if num_threads:  # on the CPU, use the cores this actor reserved, not every core of the node
            torch.set_num_threads(num_threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model_fn().to(self.device)
        self.loss_fn = loss_fn
        self.optimizer = make_optimizer(self.model.parameters(), name=optimizer, lr=lr, eps=optimizer_eps,
                                        rmsprop_decay=rmsprop_decay, momentum=momentum)
        self.base_lr = lr
        self.max_grad_norm = max_grad_norm
        self.lr_anneal_samples = lr_anneal_samples
        self.batch_axis = batch_axis
        self.join = join or self._concatenate
        self.samples_key = samples_key
        self.version = 0
        self.samples_trained = 0
        self.extras: dict[str, torch.Tensor] = {}

    def update(self, *batches: Batch, return_weights: bool = False):
        """One gradient step on ``batches`` joined along the batch axis; returns scalar metrics.

        With ``return_weights`` it returns ``(metrics, weights)``: a plan calls it with ``num_returns=2`` so the new
        weights become one object-store ref, published to the workers without another call to the learner.
        """
        joined = self.join(batches)
        tensors = {k: torch.from_numpy(np.asarray(v)).to(self.device, non_blocking=True) for k, v in joined.items()}
        lr = self._set_lr()
        loss, metrics = self.loss_fn(self.model, tensors)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.version += 1
        self.samples_trained += int(np.prod(joined[self.samples_key].shape[: self.batch_axis + 1]))
        # Scalars are metrics; larger tensors (per-sample priorities) are kept for the caller in ``extras``.
        out = {k: float(v) for k, v in metrics.items() if v.dim() == 0}
        self.extras = {k: v.detach() for k, v in metrics.items() if v.dim() > 0}
        out.update(loss=float(loss.detach()), grad_norm=float(grad_norm), lr=lr)
        return (out, self.get_weights()) if return_weights else out

    def _concatenate(self, batches: Sequence[Batch]) -> Batch:
        if len(batches) == 1:
            return batches[0]
        return {k: np.concatenate([b[k] for b in batches], axis=self.batch_axis) for k in batches[0]}

    def _set_lr(self) -> float:
        lr = self.base_lr
        if self.lr_anneal_samples > 0:
            lr *= max(0.0, 1.0 - self.samples_trained / self.lr_anneal_samples)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def get_weights(self) -> Weights:
        # Copies: on the CPU .numpy() would share memory with parameters the next update changes.
        return {k: v.detach().cpu().numpy().copy() for k, v in self.model.state_dict().items()}

    def get_state(self) -> dict[str, Any]:
        """Model, optimizer state, version and counters: tensors and plain numbers only (weights_only loadable)."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "version": self.version,
            "samples_trained": self.samples_trained,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.version = int(state["version"])
        self.samples_trained = int(state["samples_trained"])

    def device_name(self) -> str:
        return str(self.device)


def learner_gpus(requested: float) -> float:
    """GPUs for a learner actor: ``requested``, or (-1) one when the Ray cluster has a GPU, else none."""
    if requested >= 0:
        return requested
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
