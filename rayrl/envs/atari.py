"""Atari preprocessing: the standard stack of Mnih et al. (2015) and Machado et al. (2018), as in IMPALA and CleanRL.

From the emulator up (each wrapper sees what the one below it returns):

    AtariEnv(frameskip=1)      the ALE itself; it truncates a game after `max_episode_frames` frames
    AtariPreprocessing         up to 30 random no-ops on reset, repeat each action 4 frames and max-pool the last two,
                               84x84 grayscale uint8 (not scaled: the model divides by 255)
    RecordEpisodeStatistics    info["episode"] = real return and length (agent steps) of whole games, unclipped
    EpisodicLifeEnv            training only: a lost life ends the episode, but not the game
    FireResetEnv               presses FIRE after each reset, for games that wait for it (Breakout)
    ClipReward(-1, 1)          training only; ALE rewards are integers, so this is sign(reward)
    FrameStackObservation      the last 4 frames: obs is a (4, 84, 84) uint8 array

Everything that gymnasium already has is gymnasium's; only the two wrappers below are ours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, ClipReward, FrameStackObservation, RecordEpisodeStatistics

ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"

NOOP_ACTION = 0
FIRE_ACTION = 1


@dataclasses.dataclass(frozen=True)
class AtariOptions:
    """The switches of the Atari preprocessing; the defaults are the standard ones."""

    noop_max: int = 30
    """Reset with a random number (1..noop_max) of no-op frames, so starts differ; 0 turns it off."""
    frame_skip: int = 4
    """The agent acts every `frame_skip` frames (the action repeats); the observation is the max of the last two."""
    screen_size: int = 84
    """Frames are resized to screen_size x screen_size grayscale."""
    stack: int = 4
    """The observation stacks this many of the last frames: shape (stack, screen_size, screen_size)."""
    clip_rewards: bool = True
    """Training only: rewards are clipped to [-1, 1]. Episode statistics always report the unclipped return."""
    episodic_life: bool = True
    """Training only: losing a life ends the episode (terminated), while the game itself goes on."""
    max_episode_frames: int = 108_000
    """A game is truncated after this many emulator frames (108K frames = 27K agent steps = 30 minutes of play)."""
    fire_reset: bool = True
    """Press FIRE after each reset in games that need it to start (only where the game's action 1 is FIRE)."""

    def __post_init__(self) -> None:
        for name in ("frame_skip", "screen_size", "stack", "max_episode_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"AtariOptions.{name} must be at least 1, got {getattr(self, name)}")
        if self.noop_max < 0:
            raise ValueError(f"AtariOptions.noop_max must be at least 0, got {self.noop_max}")


class EpisodicLifeEnv(gym.Wrapper):
    """Ends the episode when a life is lost, but only resets the game when it is really over (Mnih et al. 2015).

    The agent stops bootstrapping at a life loss, which speeds up learning. `reset()` after a life loss continues
    the same game with one no-op step instead of starting a new one. gymnasium's AtariPreprocessing has
    `terminal_on_life_loss`, but its reset always restarts the game, so this wrapper is still needed.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._ale = env.unwrapped.ale
        self._lives = 0
        self._game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = terminated or truncated
        lives = self._ale.lives()
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(NOOP_ACTION)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        self._game_over = False
        self._lives = self._ale.lives()
        return obs, info


class FireResetEnv(gym.Wrapper):
    """Presses FIRE (then action 2) after each reset, as baselines and CleanRL do, for games that wait for FIRE.

    Without it an untrained agent in Breakout can sit for a whole game before the ball is ever launched. Above
    EpisodicLifeEnv, it also relaunches the ball after each lost life.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        for action in (FIRE_ACTION, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        return obs, info


def needs_fire_reset(env: gym.Env) -> bool:
    """True for games whose action 1 is FIRE (and that have a third action for FireResetEnv to press)."""
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) >= 3 and meanings[FIRE_ACTION] == "FIRE"


def make_atari_env(
    spec: gym.envs.registration.EnvSpec, *, training: bool, options: AtariOptions, env_kwargs: dict[str, Any]
) -> gym.Env:
    """Makes an ALE env with the preprocessing of the module docstring.

    `env_kwargs` go to the ALE env and override our choices for it. The env id's own `repeat_action_probability`
    (sticky actions: 0.25 for ALE/*-v5, 0 for *NoFrameskip-v4) is kept unless env_kwargs sets it.
    """
    ale_kwargs = {
        "frameskip": 1,  # AtariPreprocessing repeats the actions and max-pools the frames
        "obs_type": "grayscale",  # the preprocessing reads the screen itself; this only makes each frame cheaper
        "max_num_frames_per_episode": options.max_episode_frames,
        **env_kwargs,
    }
    env = gym.make(spec, disable_env_checker=True, **ale_kwargs)
    env = AtariPreprocessing(
        env, noop_max=options.noop_max, frame_skip=options.frame_skip, screen_size=options.screen_size
    )
    # A video gets one frame per agent step; the ALE's 60 frames a second make that 60 / frame_skip in real time.
    env.metadata = {**env.metadata, "render_fps": round(60 / options.frame_skip)}
    env = RecordEpisodeStatistics(env)
    if training and options.episodic_life:
        env = EpisodicLifeEnv(env)
    if options.fire_reset and needs_fire_reset(env):
        env = FireResetEnv(env)
    if training and options.clip_rewards:
        env = ClipReward(env, -1.0, 1.0)
    return FrameStackObservation(env, stack_size=options.stack)


def frame_stack_depth(env: gym.Env) -> int | None:
    """S if ``env`` observes ``FrameStackObservation`` stacks ``[S, H, W]`` of uint8 frames padded by "reset".

    Those stacks (the Atari pipeline's) are rebuilt exactly from each step's newest frame and where episodes start,
    so replay can store each frame once (:class:`~rayrl.replay.FrameStackStorage`); observations of the same shape
    from anything else cannot, so None for them. Only ``RecordEpisodeStatistics``, which passes observations
    through, may wrap the stack.
    """
    while isinstance(env, RecordEpisodeStatistics):
        env = env.env
    if not isinstance(env, FrameStackObservation) or env.padding_type != "reset":
        return None
    space = env.observation_space
    return env.stack_size if len(space.shape) == 3 and space.dtype == np.uint8 else None
