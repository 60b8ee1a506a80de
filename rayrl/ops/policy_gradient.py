"""Actor-critic loss terms (Mnih et al. 2016, "A3C", arXiv 1602.01783; Espeholt et al. 2018, "IMPALA", section 4.2).

All three losses SUM over the ``[T, B]`` elements instead of averaging, as DeepMind's reference
``scalable_agent`` (IMPALA) does; the published learning rates assume that scale. Divide by ``T * B`` in the
caller for a mean. Each returns a scalar that is to be minimised.
"""

from __future__ import annotations

import torch


def policy_gradient_loss(*, log_probs: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Policy-gradient loss ``-sum_{t,b} log pi(a_t|x_t) A_t`` (Mnih et al. 2016, section 4; IMPALA section 4.2).

    The advantages are treated as constants (detached): only ``log_probs`` carries the gradient.

    Args:
        log_probs: ``[T, B]`` log-probabilities ``log pi(a_t|x_t)`` of the actions taken.
        advantages: ``[T, B]`` advantages, e.g. V-trace ``pg_advantages`` or ``R_t - V(x_t)``.

    Returns:
        A scalar tensor (sum over ``[T, B]``).
    """
    return -torch.sum(log_probs * advantages.detach())


def baseline_loss(*, targets: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Value (baseline) loss ``0.5 sum_{t,b} (target_t - V(x_t))^2`` (Mnih et al. 2016; IMPALA section 4.2).

    Args:
        targets: ``[T, B]`` regression targets (V-trace ``vs`` or n-step returns); detached.
        values: ``[T, B]`` the baseline's predictions ``V(x_t)``.

    Returns:
        A scalar tensor (sum over ``[T, B]``).
    """
    return 0.5 * torch.sum((targets.detach() - values) ** 2)


def entropy_loss(*, entropy: torch.Tensor) -> torch.Tensor:
    """Entropy regulariser ``-sum_{t,b} H(pi(.|x_t))`` (Mnih et al. 2016, section 4; IMPALA section 4.2).

    Minimising this maximises the policy's entropy, which discourages premature convergence.

    Args:
        entropy: ``[T, B]`` per-step policy entropies ``H(pi(.|x_t))``.

    Returns:
        A scalar tensor (sum over ``[T, B]``).
    """
    return -torch.sum(entropy)
