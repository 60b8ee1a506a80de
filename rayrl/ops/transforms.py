"""Invertible value rescaling (Pohlen et al. 2018, "Observe and Look Further", arXiv 1805.11593, section 3.2).

R2D2 (Kapturowski et al. 2019, section 2.3) trains on ``h(r + gamma h^{-1}(Q_target))`` instead of clipping rewards.
"""

from __future__ import annotations

import torch


def signed_hyperbolic(x: torch.Tensor, *, eps: float = 1e-3) -> torch.Tensor:
    """Value rescaling ``h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x`` (Pohlen et al. 2018, section 3.2).

    Args:
        x: any shape.
        eps: the linear term that keeps ``h^{-1}`` Lipschitz, ``eps >= 0``.

    Returns:
        ``h(x)``, same shape as ``x``.
    """
    return torch.sign(x) * (torch.sqrt(x.abs() + 1) - 1) + eps * x


def signed_parabolic(x: torch.Tensor, *, eps: float = 1e-3) -> torch.Tensor:
    """The exact inverse of :func:`signed_hyperbolic` (Pohlen et al. 2018, Proposition A.2).

    ``h^{-1}(x) = sign(x) (((sqrt(1 + 4 eps (|x| + 1 + eps)) - 1) / (2 eps))^2 - 1)``, evaluated as
    ``sign(x) ((2 (|x| + 1 + eps) / (sqrt(1 + 4 eps (|x| + 1 + eps)) + 1))^2 - 1)`` (multiplied through by the
    conjugate): the same value without the cancellation in ``sqrt(...) - 1``, and defined for ``eps = 0``.

    Args:
        x: any shape.
        eps: the same ``eps`` that :func:`signed_hyperbolic` used, ``eps >= 0``.

    Returns:
        ``h^{-1}(x)``, same shape as ``x``.
    """
    a = x.abs() + 1 + eps
    z = 2 * a / (torch.sqrt(1 + 4 * eps * a) + 1)
    return torch.sign(x) * (z**2 - 1)
