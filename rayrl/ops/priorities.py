"""Replay priorities from TD errors (Schaul et al. 2016; Horgan et al. 2018, "Ape-X"; Kapturowski et al. 2019, "R2D2").

Both functions accept a torch tensor or a numpy array and return the same type (workers often hold numpy).
The result never carries a gradient.
"""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def td_priorities(*, td_errors: ArrayLike, eps: float = 1e-6) -> ArrayLike:
    """Proportional priorities ``p_i = |delta_i| + eps`` (Schaul et al. 2016, section 3.3; used by Ape-X).

    ``eps`` keeps every transition sampleable once its error reaches zero.

    Args:
        td_errors: TD errors, any shape (``[B]`` for transitions).
        eps: a small positive constant.

    Returns:
        Priorities, same shape and type as ``td_errors``.
    """
    if isinstance(td_errors, np.ndarray):
        return np.abs(td_errors) + eps
    return td_errors.detach().abs() + eps


def sequence_priorities(*, td_errors: ArrayLike, eta: float = 0.9, mask: ArrayLike | None = None) -> ArrayLike:
    """Sequence priorities ``p = eta max_t |delta_t| + (1 - eta) mean_t |delta_t|`` (Kapturowski et al. 2019, sec. 2.3).

    Mixing in the max keeps a sequence's priority high when one step has a large error, which a plain mean over a
    long sequence would wash out.

    Args:
        td_errors: ``[T, B]`` TD errors of each sequence's trained steps.
        eta: weight of the max, in ``[0, 1]``; R2D2 uses 0.9.
        mask: optional ``[T, B]`` (bool or 0/1) marking valid steps, e.g. excluding padding after an episode end;
            masked steps are ignored by both max and mean. A sequence with no valid step gets priority 0.

    Returns:
        ``[B]`` priorities, same type as ``td_errors``.
    """
    is_numpy = isinstance(td_errors, np.ndarray)
    abs_td = torch.as_tensor(td_errors).detach().abs()
    if mask is None:
        p = eta * abs_td.max(dim=0).values + (1 - eta) * abs_td.mean(dim=0)
    else:
        valid = torch.as_tensor(mask, device=abs_td.device).to(abs_td.dtype)
        # |delta| >= 0, so zeroing invalid steps leaves the max over valid steps unchanged.
        abs_td = abs_td * valid
        mean = abs_td.sum(dim=0) / valid.sum(dim=0).clamp(min=1)
        p = eta * abs_td.max(dim=0).values + (1 - eta) * mean
    return p.numpy() if is_numpy else p
