"""The learner: owns the model and optimizer (on the GPU when torch sees one) and applies an algorithm's loss."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from rayrl.core import Batch, Gradients, Weights

# Batches arrive read-only from the object store; the loss never writes to them, so sharing them is safe.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


class LossOutput(NamedTuple):
    """What an algorithm's loss returns."""

    loss: torch.Tensor
    """The scalar to minimise."""
    metrics: dict[str, torch.Tensor]
    """Scalar tensors to log."""
    priorities: torch.Tensor | None = None
    """``[N]`` new replay priorities of the batch's items, for prioritized replay (None elsewhere)."""


LossFn = Callable[[nn.Module, dict[str, torch.Tensor]], LossOutput]
"""``loss_fn(model, batch) -> LossOutput``: an algorithm's pure loss."""


def make_optimizer(params, *, name: str, lr: float, eps: float, rmsprop_decay: float, momentum: float):
    """RMSProp as in the DQN/A3C/IMPALA papers, Adam, or plain SGD (with momentum)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=rmsprop_decay, eps=eps, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=eps)
    raise ValueError(f"unknown optimizer {name!r}")


def backward(model: nn.Module, loss_fn: LossFn, batch: Batch, *, max_grad_norm: float,
             device: torch.device | str) -> tuple[dict[str, float], torch.Tensor | None]:
    """The loss on ``batch`` and its gradients, clipped to a global norm of ``max_grad_norm`` and left in the
    parameters' ``.grad``; returns the loss's scalar metrics (with ``loss`` and ``grad_norm``) and its priorities."""
    tensors = {k: torch.from_numpy(np.asarray(v)).to(device, non_blocking=True) for k, v in batch.items()}
    out = loss_fn(model, tensors)
    model.zero_grad(set_to_none=True)
    out.loss.backward()
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    metrics = {k: float(v) for k, v in out.metrics.items()}
    metrics.update(loss=float(out.loss.detach()), grad_norm=float(grad_norm))
    return metrics, None if out.priorities is None else out.priorities.detach()


def gradients_of(model: nn.Module) -> list[np.ndarray]:
    """The gradients in the ``.grad`` of the parameters that take gradients (a target network's do not), as numpy
    arrays (copies), in parameter order."""
    return [p.grad.detach().cpu().numpy().copy() for p in model.parameters() if p.requires_grad]


class Learner:
    """Takes batches (dicts of numpy arrays), joins them along the batch axis, and takes one gradient step each.

    Batches are joined by ``join`` (rollouts: ``join_rollouts``), or by concatenating every field along
    ``batch_axis`` (1 for time-major batches ``[T, B, ...]``, 0 for transitions); each update counts its samples by
    ``reward``, the field every batch has (one per env step, transition or sequence); ``lr`` decays linearly to 0
    over ``lr_anneal_samples`` trained samples (0 keeps it constant), as in A3C and IMPALA.
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
        self.version = 0
        self.samples_trained = 0

    def update(self, *batches: Batch, return_weights: bool = False):
        """One gradient step on ``batches`` joined along the batch axis; returns scalar metrics.

        With ``return_weights`` it returns ``(metrics, weights)``: a plan calls it with ``num_returns=2`` so the new
        weights become one object-store ref, published to the workers without another call to the learner.
        """
        metrics, _ = self._update(batches)
        return (metrics, self.get_weights()) if return_weights else metrics

    def compute_gradients(self, *batches: Batch) -> tuple[Gradients, dict[str, float]]:
        """The loss's gradients on ``batches`` (clipped to ``max_grad_norm``) as numpy arrays, stamped with the
        weights version they were computed from, and the loss's metrics; the weights stay as they are."""
        metrics, _, samples = self._backward(batches)
        return Gradients(gradients_of(self.model), self.version, samples), metrics

    def apply_gradients(self, gradients: Gradients) -> dict[str, float]:
        """One optimizer step with gradients computed elsewhere (one array per parameter, in parameter order)."""
        for param, grad in zip(self.model.parameters(), gradients.grads, strict=True):
            param.grad = torch.as_tensor(grad, device=self.device)
        return self._step(gradients.samples)

    def _update(self, batches: Sequence[Batch]) -> tuple[dict[str, float], torch.Tensor | None]:
        """``update``'s step, with the loss's new priorities (None unless the loss gives them)."""
        metrics, priorities, samples = self._backward(batches)
        metrics.update(self._step(samples))
        return metrics, priorities

    def _backward(self, batches: Sequence[Batch]) -> tuple[dict[str, float], torch.Tensor | None, int]:
        """Loss and clipped gradients (left in ``.grad``) on the joined batches; returns (metrics, priorities,
        samples in the batches)."""
        joined = self.join(batches)
        metrics, priorities = backward(self.model, self.loss_fn, joined, max_grad_norm=self.max_grad_norm,
                                       device=self.device)
        return metrics, priorities, int(np.prod(joined["reward"].shape[: self.batch_axis + 1]))

    def _step(self, samples: int) -> dict[str, float]:
        """The optimizer step with the gradients in ``.grad``, at the lr annealed to the samples trained so far."""
        lr = self._set_lr()
        self.optimizer.step()
        self.version += 1
        self.samples_trained += samples
        return {"lr": lr}

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


def start_learner(config: Any, *, model_fn: Callable[[], nn.Module], loss_fn: LossFn, learner_cls: type = Learner,
                  **kwargs: Any):
    """A ``learner_cls`` actor (``config.learner_cpus`` CPUs, the GPU ``config.learner_gpus`` asks for) with
    ``config``'s optimizer keys and seed, on one torch thread, and the algorithm's further ``kwargs``."""
    import ray

    from rayrl.components.bundles import LEARNER_BUNDLE, bundle_options
    from rayrl.config import optimizer_kwargs

    remote_cls = ray.remote(num_cpus=config.learner_cpus, num_gpus=learner_gpus(config.learner_gpus))(learner_cls)
    return remote_cls.options(**bundle_options(LEARNER_BUNDLE)).remote(
        model_fn=model_fn, loss_fn=loss_fn, **optimizer_kwargs(config), max_grad_norm=config.max_grad_norm,
        num_threads=1, seed=config.seed, **kwargs
    )


def learner_gpus(requested: float | None) -> float:
    """GPUs for a learner actor: ``requested``, or (None) one when the Ray cluster has a GPU, else none."""
    if requested is not None:
        return requested
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
