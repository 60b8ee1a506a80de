"""A trained agent's policy from a checkpoint, on the CPU and without Ray: ``rayrl.load_policy(path).act(obs)``.

Every plan's checkpoint holds the network the agent acts with: the learner's model (the online Q-network of a
Q-learning learner) or the parameter server's parameters. :func:`load_policy` rebuilds that network from the
checkpoint's algorithm and config and loads it, reading the file with ``weights_only`` (no code runs from it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rayrl.algorithms import registry
from rayrl.algorithms.q_learning import QLearningConfig
from rayrl.checkpoint import find_latest_checkpoint, load_state
from rayrl.config import build_config
from rayrl.envs import make_env
from rayrl.errors import RayrlError, one_line

EVAL_EPSILON = 0.05
"""The exploration rate of a Q-network's stochastic actions: Nature DQN's evaluation epsilon (Mnih et al. 2015)."""


class Policy:
    """``act(obs)``: actions for one observation (``observation_space.shape``) or a batch of them.

    Greedy by default: the action of highest value for a Q-network, the distribution's mode for an actor-critic;
    ``stochastic`` samples the actor-critic's distribution, or acts epsilon-greedily (``EVAL_EPSILON``) with a
    Q-network. Continuous actions are clipped to the action space's bounds, as the workers do.

    A recurrent network (R2D2's, or an actor-critic's with ``use_lstm``) carries its state from one ``act`` to the
    next: call :meth:`reset` where an episode starts, and pass each step the reward the previous action earned
    (``prev_reward``), which the network reads with the previous action; a feed-forward network ignores both.
    """

    def __init__(self, algo: str, config: Any, model: nn.Module, observation_space: gym.Space,
                 action_space: gym.Space, seed: int | None = None):
        self.algo, self.config, self.model = algo, config, model.eval()
        self.observation_space, self.action_space = observation_space, action_space
        self._rng = np.random.default_rng(seed)
        self.recurrent = hasattr(model, "initial_state")
        self._prev_action: torch.Tensor | None = None  # a recurrent network's inputs from the last act
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        """A new episode: a recurrent network starts again from its initial state, with no previous action."""
        self._prev_action = self._state = None

    def act(self, obs: Any, *, stochastic: bool = False, prev_reward: Any = 0.0) -> np.ndarray:
        batch = np.asarray(obs, dtype=self.observation_space.dtype)
        single = batch.shape == self.observation_space.shape
        if single:
            batch = batch[None]
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            if hasattr(self.model, "distribution"):  # an actor-critic
                params = (self._recurrent_step(self.model.policy_step, x, prev_reward) if self.recurrent
                          else self.model.policy_params(x))
                distribution = self.model.distribution
                actions = (distribution.sample(params) if stochastic else distribution.greedy(params)).numpy()
            else:
                q = self._recurrent_step(self.model.step, x, prev_reward) if self.recurrent else self.model(x)
                actions = self._epsilon_greedy(q.argmax(dim=-1).numpy(), stochastic)
            if self.recurrent:  # before clipping, as the workers feed it
                self._prev_action = torch.as_tensor(actions)
        if isinstance(self.action_space, gym.spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return actions[0] if single else actions

    def _recurrent_step(self, step: Any, obs: torch.Tensor, prev_reward: Any) -> torch.Tensor:
        """``step`` (a recurrent network's ``step`` or ``policy_step``) for ``obs`` from the state it kept: its output
        (Q-values or policy parameters); keeps the state after it."""
        if self._state is None:
            dtype = torch.float32 if isinstance(self.action_space, gym.spaces.Box) else torch.int64
            self._prev_action = torch.zeros((len(obs),) + self.action_space.shape, dtype=dtype)
            self._state = self.model.initial_state(len(obs))
            prev_reward = 0.0
        reward = torch.as_tensor(np.broadcast_to(np.asarray(prev_reward, np.float32), (len(obs),)).copy())
        out, self._state = step(obs, self._prev_action, reward, self._state)
        return out

    def _epsilon_greedy(self, greedy: np.ndarray, stochastic: bool) -> np.ndarray:
        if not stochastic:
            return greedy
        explore = self._rng.random(len(greedy)) < EVAL_EPSILON
        return np.where(explore, self._rng.integers(self.action_space.n, size=len(greedy)), greedy)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Load the acting network's weights (tensors or numpy arrays by parameter name, as a plan publishes them)."""
        # Copies of numpy arrays: those read from Ray's object store are read-only, which torch warns about.
        self.model.load_state_dict({name: value if isinstance(value, torch.Tensor) else torch.tensor(value)
                                    for name, value in weights.items()})


def load_policy(path: str | os.PathLike, *, seed: int | None = None) -> Policy:
    """The policy of the newest checkpoint in ``path`` (a run directory, a checkpoint directory or a study's trial).

    One-line :class:`~rayrl.errors.RayrlError` for a missing, corrupt or foreign checkpoint.
    """
    state = load_state(find_latest_checkpoint(path))
    algo = registry.get(state["algo"])
    policy = make_policy(algo.name, build_config(algo.config_cls, state["config"]), seed=seed)
    try:
        policy.set_weights(policy_weights(state["plan"]))
    except (KeyError, RuntimeError) as e:
        raise RayrlError(f"checkpoint in {path} does not hold a {algo.name} network for {policy.config.env} "
                         f"({one_line(e)})") from None
    return policy


def make_policy(algo: str, config: Any, *, seed: int | None = None) -> Policy:
    """The acting network of ``algo`` with ``config`` for its env's spaces, freshly initialised (see
    :meth:`Policy.set_weights`)."""
    env = make_env(config.env, env_kwargs=config.env_kwargs, training=False)
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    if isinstance(config, QLearningConfig):
        model = config.q_network(observation_space, action_space)
    else:
        model = config.actor_critic(observation_space, action_space)
    return Policy(algo, config, model, observation_space, action_space, seed)


def policy_weights(plan_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The acting network's weights in a plan's state: the parameter server's, or the learner's model (its online
    network where it holds a target too)."""
    if "server" in plan_state:
        return plan_state["server"]["params"]
    model = plan_state["learner"]["model"]
    online = {name.removeprefix("online."): value for name, value in model.items() if name.startswith("online.")}
    return online or model
