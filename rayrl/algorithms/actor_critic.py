"""What the actor-critic algorithms share (IMPALA, A3C and A2C): config fields and checks, the model of a config's
env (feed-forward, or recurrent with ``use_lstm``), the learner actor, the rollout workers' arguments, the forward
pass over a rollout (the recurrent core's unroll over it) and the weighted sum of the loss terms. Each algorithm's
config overrides only the defaults that differ, and its plan adds only what its paper adds."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from rayrl.config import CommonConfig, check

if TYPE_CHECKING:  # configs load without torch, so the CLI checks its input before torch and Ray start
    import torch
    from torch import nn

    from rayrl.components.learner import LossOutput


@dataclass(frozen=True)
class ActorCriticConfig(CommonConfig):
    rollout_length: int = 20
    """Unroll length T: steps each rollout carries per env (A3C's t_max)."""
    gamma: float = 0.99
    """Discount."""
    reward_scale: float = 1.0
    """Multiplies rewards in the loss (after the env's clipping): keeps values near 1 for envs with large rewards."""
    baseline_cost: float = 0.5
    """Weight of the value (baseline) loss."""
    entropy_cost: float = 0.01
    """Weight of the entropy bonus."""
    lr_anneal_timesteps: int = 50_000_000
    """Env steps over which lr decays linearly to 0 (IMPALA: 200M frames = 50M steps); 0 keeps it constant."""
    use_lstm: bool = False
    """A recurrent actor-critic (an LSTM over the encoder, the previous action and reward: the A3C paper's best
    agent, IMPALA's deep agent), its state carried by the workers and re-run by the loss from each rollout's start."""
    lstm_size: int = 256
    """The LSTM's width with ``use_lstm`` (IMPALA: 256)."""

    def __post_init__(self):
        super().__post_init__()
        check(self.rollout_length >= 1, "rollout_length", self.rollout_length, "use 1 or more steps")
        check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "use a discount in [0, 1]")
        check(self.lr_anneal_timesteps >= 0, "lr_anneal_timesteps", self.lr_anneal_timesteps, "use 0 or more")
        check(self.reward_scale > 0, "reward_scale", self.reward_scale, "use a positive factor")
        check(self.baseline_cost >= 0, "baseline_cost", self.baseline_cost, "use 0 or more")
        check(self.entropy_cost >= 0, "entropy_cost", self.entropy_cost, "use 0 or more")
        check(self.lstm_size >= 1, "lstm_size", self.lstm_size, "use 1 or more units")

    def actor_critic(self, observation_space, action_space):
        """The network this algorithm learns and acts with: a
        :class:`~rayrl.models.recurrent.RecurrentActorCritic` with ``use_lstm``, else an
        :class:`~rayrl.models.actor_critic.ActorCritic`."""
        if self.use_lstm:
            from rayrl.models.recurrent import RecurrentActorCritic

            return RecurrentActorCritic(observation_space, action_space, self.hidden_sizes, self.lstm_size)
        from rayrl.models.actor_critic import ActorCritic

        return ActorCritic(observation_space, action_space, self.hidden_sizes)


def model_fn(config: ActorCriticConfig) -> Callable[[], nn.Module]:
    """The network constructor (:meth:`ActorCriticConfig.actor_critic`) for ``config``'s env, tried once here so
    that spaces the model cannot handle fail in one line before any actor starts."""
    from rayrl.envs import make_env

    probe = make_env(config.env, env_kwargs=config.env_kwargs)
    fn = functools.partial(config.actor_critic, probe.observation_space, probe.action_space)
    probe.close()
    fn()
    return fn


def learner_kwargs(config: ActorCriticConfig) -> dict[str, Any]:
    """The :class:`~rayrl.components.learner.Learner` arguments the family shares: rollouts joined along B, lr
    annealed over ``lr_anneal_timesteps`` env steps."""
    from rayrl.components.rollout_worker import join_rollouts

    return dict(join=join_rollouts, lr_anneal_samples=config.lr_anneal_timesteps)


def worker_kwargs(config: ActorCriticConfig, index: int, incarnation: int, **extra: Any) -> dict[str, Any]:
    """:class:`~rayrl.components.rollout_worker.RolloutWorker` arguments of worker ``index``: env and model settings
    (the LSTM's width with ``use_lstm``), fresh seeds per incarnation, and the plan's ``extra``."""
    c = config
    return dict(env=c.env, env_kwargs=c.env_kwargs, num_envs=c.num_envs_per_worker, rollout_length=c.rollout_length,
                hidden_sizes=c.hidden_sizes, lstm_size=c.lstm_size if c.use_lstm else None,
                seed=c.seed + 1000 * index + 100_000 * incarnation, **extra)


def evaluate_rollout(model: nn.Module, batch: dict[str, torch.Tensor]):
    """One forward pass over a rollout's observations and its final observations (see ``rayrl.core``).

    Returns ``(params [T, B, P], values [T + 1, B], final_values [T, B])``: the policy parameters at each step, the
    values of ``obs``, and at each step a time limit cut, the value of that episode's final observation (0 at the
    other steps, where nothing reads it). A recurrent model is unrolled as the worker ran it (see
    :func:`evaluate_recurrent_rollout`).
    """
    import torch

    from rayrl.models.recurrent import RecurrentActorCritic

    if isinstance(model, RecurrentActorCritic):
        return evaluate_recurrent_rollout(model, batch)
    obs, final_obs, final_at = batch["obs"], batch["final_obs"], batch["final_at"]
    T, B = batch["reward"].shape
    params, values = model(torch.cat([obs.flatten(0, 1), final_obs]))
    final_values = values.new_zeros(T, B).index_put((final_at[:, 0], final_at[:, 1]), values[(T + 1) * B:])
    return params[: T * B].view(T, B, -1), values[: (T + 1) * B].view(T + 1, B), final_values


def evaluate_recurrent_rollout(model: nn.Module, batch: dict[str, torch.Tensor]):
    """:func:`evaluate_rollout` for a :class:`~rayrl.models.recurrent.RecurrentActorCritic`: the core unrolled over
    the T + 1 steps from the rollout's ``state_h``, ``state_c``, with its ``first`` resets and its inputs.

    A final observation's value is one more core step from the state after its episode's last step t, with that
    step's action and reward as inputs: the step the worker would have taken had the time limit not cut the episode.
    """
    import torch

    T, B = batch["reward"].shape
    final_at = batch["final_at"]
    # The unroll is cut after each step a time limit cut, for the states there (an LSTM call gives its cell state
    # at its end only). The core splits its LSTM calls where an episode starts, so at t + 1 anyway: the cuts cost
    # an encoder and head call each, not one more LSTM step.
    ends = sorted(set((final_at[:, 0] + 1).tolist()) | {T + 1})
    state = (batch["state_h"], batch["state_c"])
    params, values, states, start = [], [], [], 0
    for end in ends:
        inputs = [batch[name][start:end] for name in ("obs", "prev_action", "prev_reward", "first")]
        segment_params, segment_values, state = model(*inputs[:3], state, inputs[3])
        params.append(segment_params)
        values.append(segment_values)
        states.append(state)
        start = end
    params, values = torch.cat(params), torch.cat(values)
    final_values = values.new_zeros(T, B)
    if len(final_at):
        t, b = final_at[:, 0], final_at[:, 1]
        cut = torch.searchsorted(torch.tensor(ends, device=t.device), t + 1)  # the segment ending after step t
        last_state = tuple(torch.stack(part)[cut, b] for part in zip(*states))
        _, v_final, _ = model(batch["final_obs"][None], batch["action"][t, b][None], batch["reward"][t, b][None],
                              last_state)
        final_values = final_values.index_put((t, b), v_final[0])
    return params[:T], values, final_values


def combine_losses(config: ActorCriticConfig, steps: int, *, pg: torch.Tensor, baseline: torch.Tensor,
                   entropy: torch.Tensor, **metrics: torch.Tensor) -> LossOutput:
    """``pg + baseline_cost * baseline + entropy_cost * entropy``, each term summed over the ``steps`` (T * B) of a
    rollout, with the per-step means the family reports (``entropy`` is the negated entropy the bonus minimises)
    and the loss's own ``metrics``."""
    from rayrl.components.learner import LossOutput

    total = pg + config.baseline_cost * baseline + config.entropy_cost * entropy
    means = {"policy_loss": pg.detach() / steps, "value_loss": baseline.detach() / steps,
             "entropy": -entropy.detach() / steps}
    return LossOutput(total, {**means, **metrics})
