"""MiniGrid (Chevalier-Boisvert et al. 2023, Farama's ``minigrid``): its grid worlds as Box observations for the MLP.

A MiniGrid env observes a Dict (the agent's egocentric 7 x 7 view, its direction, a mission string); the models
read a Box. make_env wraps every MiniGrid id, from the env up:

    MiniGridEnv                 the env; it truncates an episode itself after its `max_steps`
    OneHotPartialObsWrapper     each cell of the 7 x 7 view as one-hot object type (11), colour (6) and state (3)
    ImgObsWrapper               the view alone: the mission of the tasks we use is fixed or names the only target,
                                and the egocentric view needs no direction
    FlattenObservation          uint8 [7 * 7 * 20] = [980] of zeros and ones (the MLP reads floats of them)
    RecordEpisodeStatistics     info["episode"]["r"] > 0 exactly when the episode reached its goal

The observation is the view only, as in the MiniGrid baselines (rl-starter-files) and the exploration papers that
use these tasks (RIDE, Raileanu & Rocktaschel 2020); a carried object shows in the agent's own cell. The action space
stays MiniGrid's seven actions (left, right, forward, pickup, drop, toggle, done), as those papers keep it, so
exploration also has to find out which actions matter. A successful episode's reward is MiniGrid's
1 - 0.9 * steps / max_steps, every other reward 0.

The hard-exploration task rayrl's R2D3 results use is MiniGrid-DoorKey-8x8-v0 (640 steps: pick up the key, unlock
the door in the wall that splits the room, step onto the goal; the layout changes with every episode). Measured
successes: a uniformly random policy 2-5%, epsilon-greedy over an untrained MLP 2% at epsilon 0.4 and 0% at 0.1
(100-300 episodes each). MiniGrid-KeyCorridorS3R3-v0 (270 steps: fetch a key from a side room, unlock a door, pick
up the ball behind it) is harder still: random 2 in 900 episodes, epsilon-greedy 0 in 600 at 0.4 and at 0.1
(KeyCorridorS3R2 random: 0.3%, S3R1: 7%); its key lies out of sight, so an agent must search, which an expert that
knows where the key is never shows. rayrl.envs.experts.minigrid_expert solves both in every episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.wrappers import FlattenObservation, RecordEpisodeStatistics

PREFIXES = ("MiniGrid-", "BabyAI-")
"""The ids minigrid registers start with one of these."""


def is_minigrid_id(env_id: str) -> bool:
    """True for ids that minigrid registers (or would: an unknown one with such a prefix still needs its registry)."""
    return env_id.startswith(PREFIXES)


def is_minigrid_spec(spec: gym.envs.registration.EnvSpec) -> bool:
    return isinstance(spec.entry_point, str) and spec.entry_point.startswith("minigrid.")


def register_minigrid_envs() -> None:
    """Registers minigrid's ids; done on first need, since importing minigrid costs a tenth of a second."""
    import minigrid

    gym.register_envs(minigrid)


def make_minigrid_env(spec: gym.envs.registration.EnvSpec, env_kwargs: dict[str, Any]) -> gym.Env:
    """The MiniGrid env of `spec`, built with `env_kwargs` and wrapped as the module docstring says."""
    from minigrid.wrappers import ImgObsWrapper, OneHotPartialObsWrapper

    env = gym.make(spec, disable_env_checker=True, **env_kwargs)
    env = FlattenObservation(ImgObsWrapper(OneHotPartialObsWrapper(env)))
    return RecordEpisodeStatistics(env)
