"""R2D2's loss (Kapturowski et al. 2019, section 2.3): transformed n-step double Q-learning on replayed sequences,
with the stored core state refreshed by a burn-in unroll.

``batch`` holds the sequence items R2D2's actors insert, batch-major ``[N, L, ...]`` as replay samples them:
``obs [N, L, ...]`` or ``frames [N, C + L, H, W]``; ``action``, ``reward``, ``terminated``, ``mask``,
``prev_action``, ``prev_reward`` ``[N, L]``; ``state_h``, ``state_c`` ``[N, H]``; and prioritized replay's
``importance_weight [N]``. The loss works time-major ``[L, N, ...]``.
"""

from __future__ import annotations

import torch

from rayrl.components.learner import LossOutput
from rayrl.errors import RayrlError
from rayrl.models.q_network import OnlineAndTarget
from rayrl.models.recurrent import CoreState, RecurrentQNetwork, stack_frames
from rayrl.ops import sequence_priorities, td_error, transformed_n_step_q_learning_target

Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""Time-major network inputs ``(obs [L, N, ...], prev_action [L, N], prev_reward [L, N])``."""


def sequence_inputs(batch: dict[str, torch.Tensor]) -> Inputs:
    """The network's time-major inputs; Atari stacks are rebuilt from ``frames [N, C + L, H, W]`` (depth C + 1)."""
    seq_len = batch["action"].shape[1]
    if "frames" in batch:
        obs = stack_frames(batch["frames"], batch["frames"].shape[1] - seq_len + 1)
    else:
        obs = batch["obs"]
    return obs.transpose(0, 1), batch["prev_action"].transpose(0, 1), batch["prev_reward"].transpose(0, 1)


def _burn_in(network: RecurrentQNetwork, inputs: Inputs, state: CoreState, burn_in: int) -> CoreState:
    """The core state after ``burn_in`` steps from ``state``, without gradient (burn-in only refreshes the state)."""
    if burn_in == 0:
        return state
    with torch.no_grad():
        _, state = network(*(x[:burn_in] for x in inputs), state)
    return state


def burn_in_state(network: RecurrentQNetwork, batch: dict[str, torch.Tensor], *, burn_in: int,
                  stored_state: bool = True) -> CoreState:
    """The core state ``[N, H]`` (twice) the loss trains from: the state before step ``burn_in`` after unrolling
    ``network`` over the first ``burn_in`` steps, starting from the items' stored ``state_h, state_c`` or, without
    ``stored_state``, from zeros (R2D2's "zero start state"; with ``burn_in = 0``: zeros as they are).

    Args:
        network: the recurrent Q-network (online or target).
        batch: sequence items ``[N, L, ...]`` (see the module docstring).
        burn_in: the burn-in steps, ``0 <= burn_in <= L``.
        stored_state: start from the stored state rather than zeros.
    """
    seq_len = batch["action"].shape[1]
    if not 0 <= burn_in <= seq_len:
        raise RayrlError(f"burn_in = {burn_in} does not fit sequences of {seq_len} steps; "
                         f"use 0 <= burn_in <= {seq_len}")
    state = (batch["state_h"], batch["state_c"])
    if not stored_state:
        state = (torch.zeros_like(state[0]), torch.zeros_like(state[1]))
    return _burn_in(network, sequence_inputs(batch), state, burn_in)


def _bootstrapped_targets(q: torch.Tensor, q_target: torch.Tensor, reward: torch.Tensor, terminated: torch.Tensor,
                          mask: torch.Tensor, mask_next: torch.Tensor, *, n_step: int, gamma: float,
                          rescale_eps: float | None) -> torch.Tensor:
    """Targets ``[T - 1, N]`` for steps ``0 .. T - 2`` of time-major ``[T, N]`` fields (after burn-in).

    Where a time limit cut the episode its last real step holds the final observation (reward 0, not terminated)
    and padding follows: n-step sums stop there and bootstrap from it. Steps from there on repeat its values and
    pass the return through (reward 0, discount 1), exactly as at the sequence's end.
    """
    steps = torch.arange(mask.shape[0], device=mask.device).unsqueeze(1)
    last_real = torch.cummax(torch.where(mask, steps, 0), dim=0).values
    index = last_real.unsqueeze(-1).expand_as(q)
    q_selector, q_value = q.gather(0, index), q_target.gather(0, index)
    pass_through = ~mask_next & ~terminated
    reward = torch.where(pass_through, 0.0, reward)
    discount = torch.where(pass_through, 1.0, gamma * (~terminated).to(q.dtype))
    return transformed_n_step_q_learning_target(r_t=reward[:-1], discount_t=discount[:-1], target_q_t=q_value[1:],
                                                selector_q_t=q_selector[1:], n=n_step, rescale_eps=rescale_eps)


def r2d2_loss(model: OnlineAndTarget, batch: dict[str, torch.Tensor], *, burn_in: int, n_step: int, gamma: float,
              priority_eta: float = 0.9, rescale_eps: float | None = 1e-3) -> LossOutput:
    """``mean_i w_i 0.5 sum_t delta_{t,i}^2`` over the trained steps of each sequence (Acme's R2D2 loss: a sum over
    time, a mean over the batch).

    Both networks unroll from the stored state over the first ``burn_in`` steps without gradient, then over the
    rest: online values ``q`` and target values. ``delta_t = target_t - q(s_t, a_t)`` with ``target_t`` R2D2's
    transformed n-step double-Q target (``rayrl.ops.transformed_n_step_q_learning_target``; discount
    ``gamma (1 - terminated)``). Only steps from ``burn_in`` on are trained; of those, untrained steps (padding, a
    truncated episode's final observation, the sequence's last step) get ``delta = 0``: no gradient and no weight
    in the priorities ``eta max_t |delta_t| + (1 - eta) mean_t |delta_t|`` ``[N]``.

    Args:
        model: online and target :class:`RecurrentQNetwork`.
        batch: sequence items ``[N, L, ...]`` and ``importance_weight [N]`` (see the module docstring).
        burn_in: steps that only refresh the core state, ``0 <= burn_in <= L - 2`` (R2D2: 40 of 80).
        n_step: the targets' lookahead, ``n_step >= 1`` (R2D2: 5).
        gamma: the discount (R2D2: 0.997).
        priority_eta: the max's weight in the priorities (R2D2: 0.9).
        rescale_eps: the value rescaling's ``eps`` (R2D2: 1e-3), None for none.
    """
    seq_len = batch["action"].shape[1]
    if not 0 <= burn_in <= seq_len - 2:
        raise RayrlError(f"burn_in = {burn_in} leaves no step to train in sequences of {seq_len} steps; "
                         f"use 0 <= burn_in <= {seq_len - 2}")
    inputs = sequence_inputs(batch)
    state = (batch["state_h"], batch["state_c"])
    online_state = _burn_in(model.online, inputs, state, burn_in)
    target_state = _burn_in(model.target, inputs, state, burn_in)
    inputs = tuple(x[burn_in:] for x in inputs)
    action, reward, terminated, mask = (batch[k].transpose(0, 1)[burn_in:]
                                        for k in ("action", "reward", "terminated", "mask"))

    q, _ = model.online(*inputs, online_state)
    mask_next = torch.cat([mask[1:], torch.zeros_like(mask[:1])])
    trained = (mask & (terminated | mask_next))[:-1]
    with torch.no_grad():
        q_target, _ = model.target(*inputs, target_state)
        target = _bootstrapped_targets(q, q_target, reward, terminated, mask, mask_next, n_step=n_step, gamma=gamma,
                                       rescale_eps=rescale_eps)
    td = torch.where(trained, td_error(q_tm1=q[:-1], a_tm1=action[:-1], target=target), 0.0)
    loss = (batch["importance_weight"] * 0.5 * td.pow(2).sum(dim=0)).mean()

    num_trained = trained.sum().clamp(min=1)
    metrics = {"q_mean": (q[:-1].detach().mean(dim=-1) * trained).sum() / num_trained,
               "td_error_abs": td.detach().abs().sum() / num_trained}
    return LossOutput(loss, metrics, priorities=sequence_priorities(td_errors=td, eta=priority_eta, mask=trained))
