"""The transition worker: epsilon-greedy over a Q-network on B vectorised envs, n-step transitions out.

Value-based methods learn from transitions, not unrolls: DQN (Mnih et al. 2015) from one-step ones, Ape-X
(Horgan et al. 2018) and Rainbow (Hessel et al. 2018) from n-step ones. For a start step t of env b the worker emits::

    obs       [N, *obs_shape]  s_t
    action    [N] int64        a_t
    reward    [N] float32      sum_{k<m} gamma^k r_{t+k}, summed up to the episode's end if it ends within n steps
    discount  [N] float32      gamma^n, or 0 if the episode terminated within the n steps
    next_obs  [N, *obs_shape]  s_{t+n}, the bootstrap observation (any observation when discount is 0)

flattened over (t, b) into N transitions, the format :class:`~rayrl.replay.RingStorage` stores; Ape-X's workers add
``priority [N]``, the initial priorities they compute themselves (Horgan et al. 2018, sec. 3). A window cut by a
time limit (truncated, not terminated) would bootstrap from the episode's final observation, which the vector env
hands out beside the next episode's first one; storing it would cost a second observation per transition in the
frame storage, so those transitions are dropped instead (at most n per truncated episode). Either way a time
limit is not treated as terminal, which would teach the network that time limits end the game.

Frame chunks: when the env observes frame stacks (:func:`~rayrl.envs.frame_stack_depth`: Atari's ``[4, 84, 84]``
uint8), a stacked ``obs`` and ``next_obs`` would cost 2S frames per transition where one is new. The worker then
emits one time-major chunk per call in :class:`~rayrl.replay.FrameStackStorage`'s format instead: ``frames``
(each observation's newest frame, after C = S - 1 context frames) and ``first`` (where episodes start), with
``action``, ``reward``, ``discount``, ``valid`` (False where a time limit cut the window) and ``priority`` as
``[T, B]`` arrays. Consecutive chunks overlap by the C + n frames the storage recognises as a continued stream.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from rayrl.components.env_worker import CoreState, EnvWorker, make_envs
from rayrl.core import Batch
from rayrl.envs import frame_stack_depth
from rayrl.models.q_network import QNetwork
from rayrl.ops import double_q_learning_target, td_error, td_priorities
from rayrl.replay import LinearSchedule


def n_step_transitions(*, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, terminated: np.ndarray,
                       truncated: np.ndarray, n: int, gamma: float) -> Batch:
    """The n-step transitions starting at each of the first ``T = L - n + 1`` steps of a time-major chunk.

    Args:
        obs: ``[L + 1, B, ...]`` the observation before each step, and the one after the last.
        action, reward, terminated, truncated: ``[L, B]`` each step's action, reward and episode ends.
        n: steps per transition; gamma: the discount.

    Returns ``obs``, ``action``, ``reward``, ``discount`` and ``next_obs`` as ``[T, B, ...]`` arrays, and ``valid``
    ``[T, B]``: False where a truncation cut the window (no bootstrap observation). One pass per k < n, each over
    every start and env at once.
    """
    num_starts = len(reward) - n + 1
    if num_starts < 1:
        raise ValueError(f"a chunk of {len(reward)} steps holds no {n}-step transition")
    shape = reward.shape[1:]
    n_step_reward = np.zeros((num_starts, *shape), np.float32)
    discount = np.ones((num_starts, *shape), np.float32)
    alive = np.ones((num_starts, *shape), bool)  # the episode of start t has not ended before step t + k
    valid = np.ones((num_starts, *shape), bool)
    for k in range(n):
        r_k, term_k, trunc_k = reward[k:k + num_starts], terminated[k:k + num_starts], truncated[k:k + num_starts]
        n_step_reward += np.where(alive, discount * r_k, 0.0).astype(np.float32)
        discount = np.where(alive, discount * gamma, discount).astype(np.float32)
        discount[alive & term_k] = 0.0
        valid &= ~(alive & trunc_k & ~term_k)
        alive &= ~(term_k | trunc_k)
    return {"obs": obs[:num_starts], "action": action[:num_starts], "reward": n_step_reward, "discount": discount,
            "next_obs": obs[n:n + num_starts], "valid": valid}


class EpsilonGreedyCore:
    """Epsilon-greedy over a Q-network (Mnih et al. 2015): a uniformly random action with probability epsilon,
    else the action of highest value.

    Args:
        epsilon: a constant, one constant per env (Ape-X's per-actor epsilons), or a :class:`LinearSchedule` over
            the worker's env steps (DQN's annealing from 1 to 0.1).
    """

    def __init__(self, model: torch.nn.Module, *, epsilon: float | Sequence[float] | LinearSchedule, num_envs: int,
                 seed: int):
        self.model = model
        self.num_actions = model.num_actions
        if isinstance(epsilon, LinearSchedule) or np.ndim(epsilon) == 0:
            self.epsilon = epsilon if isinstance(epsilon, LinearSchedule) else LinearSchedule(epsilon, epsilon, 1)
        else:
            per_env = np.asarray(epsilon, np.float64)
            if per_env.shape != (num_envs,):
                raise ValueError(f"need one epsilon per env ({num_envs}), got {len(per_env)}")
            self.epsilon = lambda step: per_env
        self._rng = np.random.default_rng(seed)

    def initial_state(self, num_envs: int) -> CoreState:
        return {}

    def select_action(self, inputs: Batch, state: CoreState, env_steps: int):
        q, state = self.q_values(inputs, state)
        return self.explore(q.argmax(dim=-1).numpy(), env_steps), {}, state

    def q_values(self, inputs: Batch, state: CoreState) -> tuple[torch.Tensor, CoreState]:
        """``(q [B, num_actions], next state)``."""
        return self.model(torch.from_numpy(inputs["obs"])), state

    def explore(self, greedy: np.ndarray, env_steps: int) -> np.ndarray:
        """``greedy`` with each env's action replaced by a uniformly random one with its probability epsilon."""
        explore = self._rng.random(len(greedy)) < self.epsilon(env_steps)
        return np.where(explore, self._rng.integers(self.num_actions, size=len(greedy)), greedy)


class NStepWriter:
    """Turns a worker's recorded steps into n-step transitions: flat, or one frame chunk per call on frame-stacked
    envs (the module docstring).

    The last n - 1 steps of a call cannot close their windows yet: they are kept and emitted with the next call, so
    every step starts exactly one transition (bar those cut by a time limit), and the first call emits ``n - 1``
    steps' fewer.

    Args:
        first_obs: the envs' observations after their reset, ``[B, *obs_shape]``.
        frame_stack: the stack depth S of frame-stacked observations, None otherwise.
        priority_fn: ``(obs [L + 1, B, ...], transitions) -> priority [T, B]`` (Ape-X's initial priorities), or None.
    """

    def __init__(self, *, n_step: int, gamma: float, first_obs: np.ndarray, frame_stack: int | None,
                 priority_fn=None):
        self.n_step = n_step
        self.gamma = gamma
        self.frame_stack = frame_stack
        self.priority_fn = priority_fn
        B = len(first_obs)
        # The steps whose windows are still open: at most n - 1 of them, and the observation after them.
        self._pending = {"obs": first_obs[None], "action": np.zeros((0, B), np.int64),
                         "reward": np.zeros((0, B), np.float32), "terminated": np.zeros((0, B), bool),
                         "truncated": np.zeros((0, B), bool)}
        self._kept = {"obs": n_step, "action": n_step - 1, "reward": n_step - 1, "terminated": n_step - 1,
                      "truncated": n_step - 1}  # how many of a call's last entries wait for the next call
        if frame_stack:
            # Also the newest frame of each pending observation and of the C steps before them, so consecutive
            # chunks overlap by C + n frames; the first chunk's context is the reset stack's older frames.
            self._pending["frames"] = np.moveaxis(first_obs, 1, 0)  # [S, B, H, W]
            self._pending["first"] = np.zeros((frame_stack, B), bool)
            self._pending["first"][-1] = True  # the reset frame starts an episode: no stack reaches past it
            self._kept["frames"] = self._kept["first"] = frame_stack - 1 + n_step

    def __call__(self, steps: Batch) -> Batch:
        new = {name: steps[name] for name in ("action", "reward", "terminated", "truncated")}
        new["obs"] = steps["obs"][1:]
        if self.frame_stack:
            new["frames"], new["first"] = steps["obs"][1:, :, -1], steps["first"][1:]
        chunk = {name: np.concatenate([self._pending[name], value]) for name, value in new.items()}
        self._pending = {name: value[len(value) - self._kept[name]:] for name, value in chunk.items()}
        transitions = n_step_transitions(obs=chunk["obs"], action=chunk["action"], reward=chunk["reward"],
                                         terminated=chunk["terminated"], truncated=chunk["truncated"],
                                         n=self.n_step, gamma=self.gamma)
        if self.priority_fn:  # from the whole stacks, before frame chunks drop them
            transitions["priority"] = self.priority_fn(chunk["obs"], transitions)
        valid = transitions.pop("valid")
        if self.frame_stack:
            del transitions["obs"], transitions["next_obs"]  # the chunk's frames hold them
            return {"frames": chunk["frames"], "first": chunk["first"], "valid": valid, **transitions}
        return {name: value[valid] for name, value in transitions.items()}


class TransitionWorker(EnvWorker):
    """Acts epsilon-greedily with the newest Q-network it has pulled; ``sample`` returns n-step transitions
    (:class:`NStepWriter`), flat or as one frame chunk per call on frame-stacked envs (module docstring).
    Needs ``1 <= n_step <= rollout_length``.

    Args:
        epsilon: as :class:`EpsilonGreedyCore`.
        initial_priorities: add each transition's ``priority`` from this worker's own network (Ape-X).
        Others as :class:`~rayrl.components.rollout_worker.RolloutWorker`; ``dueling`` as
        :class:`~rayrl.models.q_network.QNetwork`.
    """

    def __init__(self, *, env: str, num_envs: int, rollout_length: int, seed: int, hidden_sizes: tuple[int, ...],
                 dueling: bool, n_step: int, gamma: float, epsilon: float | Sequence[float] | LinearSchedule,
                 env_kwargs: dict[str, Any] | None = None, pull_period_steps: int = 0,
                 initial_priorities: bool = False):
        if not 1 <= n_step <= rollout_length:
            raise ValueError(f"need 1 <= n_step <= rollout_length, got {n_step=}, {rollout_length=}")
        envs = make_envs(env, num_envs, seed=seed, env_kwargs=env_kwargs)
        model = QNetwork(envs.single_observation_space, envs.single_action_space, hidden_sizes, dueling)
        super().__init__(envs=envs, core=EpsilonGreedyCore(model, epsilon=epsilon, num_envs=num_envs, seed=seed),
                         rollout_length=rollout_length, seed=seed, pull_period_steps=pull_period_steps)
        self.n_step, self.gamma = n_step, gamma
        self.frame_stack = frame_stack_depth(envs.envs[0])
        self.write = NStepWriter(n_step=n_step, gamma=gamma, first_obs=self.obs, frame_stack=self.frame_stack,
                                 priority_fn=self._priorities if initial_priorities else None)

    def current_epsilon(self) -> float | np.ndarray:
        return self.core.epsilon(self.env_steps)

    def _priorities(self, obs: np.ndarray, transitions: Batch) -> np.ndarray:
        """``|n-step double-Q TD error| + eps`` from this worker's network (Horgan et al. 2018, sec. 3).

        ``obs`` are the chunk's ``[L + 1, B, ...]`` observations: every transition's ``obs`` (the first T) and
        ``next_obs`` (n later) is among them, so one forward pass over them gives both Q-values. Ape-X's actors hold
        no target network, so the same (online) weights select and evaluate the bootstrap action, which makes the
        double-Q target a max.
        """
        T, B = transitions["reward"].shape
        flat = {name: torch.from_numpy(transitions[name].reshape(T * B)) for name in ("action", "reward", "discount")}
        with torch.inference_mode():
            q = self.model(torch.from_numpy(obs.reshape(-1, *obs.shape[2:]))).reshape(len(obs), B, -1)
            q_tm1 = q[:T].reshape(T * B, -1)
            q_t = q[self.n_step:self.n_step + T].reshape(T * B, -1)
            target = double_q_learning_target(r_t=flat["reward"], discount_t=flat["discount"], q_t_value=q_t,
                                              q_t_selector=q_t)
            td = td_error(q_tm1=q_tm1, a_tm1=flat["action"], target=target)
        return td_priorities(td_errors=td).numpy().reshape(T, B)
