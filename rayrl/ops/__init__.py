"""Pure torch RL ops: no Ray, no module state. Time-major ``[T, B]`` tensors, rlax-style names.

See each function's docstring for the paper and equation it implements.
"""

from rayrl.ops.policy_gradient import baseline_loss, entropy_loss, policy_gradient_loss
from rayrl.ops.priorities import sequence_priorities, td_priorities
from rayrl.ops.returns import discounted_returns, lambda_returns, n_step_returns
from rayrl.ops.transforms import signed_hyperbolic, signed_parabolic
from rayrl.ops.value_learning import (
    double_q_learning_target,
    huber_loss,
    q_learning_target,
    td_error,
    transformed_n_step_q_learning_target,
)
from rayrl.ops.vtrace import VTraceReturns, vtrace

__all__ = [
    "VTraceReturns",
    "baseline_loss",
    "discounted_returns",
    "double_q_learning_target",
    "entropy_loss",
    "huber_loss",
    "lambda_returns",
    "n_step_returns",
    "policy_gradient_loss",
    "q_learning_target",
    "sequence_priorities",
    "signed_hyperbolic",
    "signed_parabolic",
    "td_error",
    "td_priorities",
    "transformed_n_step_q_learning_target",
    "vtrace",
]
