"""make_env(): one env from a gymnasium id (rayrl's own, Atari and MiniGrid ones too) or a user's "module:Class"."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import RecordEpisodeStatistics

from rayrl.envs.atari import ATARI_ENTRY_POINT, AtariOptions, make_atari_env
from rayrl.envs.minigrid_env import is_minigrid_id, is_minigrid_spec, make_minigrid_env, register_minigrid_envs
from rayrl.errors import RayrlError, one_line

ID_HELP = "(any gymnasium id or 'package.module:ClassName')"


def make_env(
    env_id: str,
    *,
    seed: int | None = None,
    training: bool = True,
    env_kwargs: dict[str, Any] | None = None,
    atari: AtariOptions | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """Makes one env, wrapped so that each finished episode reports its real return and length.

    Args:
      env_id: a registered gymnasium id ("CartPole-v1", "ALE/Pong-v5", "PongNoFrameskip-v4",
        "MiniGrid-KeyCorridorS3R3-v0", rayrl's "rayrl/MaskedCartPole-v1" and "rayrl/DeepSea-v0"...) or a user env
        class as "package.module:ClassName" (a gymnasium.Env subclass, instantiated with `env_kwargs`). MiniGrid
        envs observe their one-hot egocentric view as a flat uint8 Box (rayrl.envs.minigrid_env).
      seed: when given, the env is reset once here with this seed (and its action space seeded), so that it and
        every later `reset()` without a seed are reproducible.
      training: for Atari, turns on reward clipping and life loss as episode end (see AtariOptions); evaluation
        (training=False) sees real rewards and whole games. Other envs are the same either way.
      env_kwargs: keyword arguments for the env's constructor (gymnasium.make's kwargs for registered ids).
      atari: the Atari preprocessing switches, AtariOptions() when None; ignored for other envs.
      render_mode: gymnasium's render mode ("rgb_array" for videos, Atari's being the RGB game screen); when None
        the env is made without one, as training makes it.

    The info of the step that ends an episode holds gymnasium's RecordEpisodeStatistics entry
    `info["episode"] = {"r": return, "l": length, "t": seconds}`. It sits below reward clipping and life loss, so
    the return is unclipped and the episode is a whole game; for Atari the length counts agent steps.
    The env checker is off (it costs time on every step).

    Raises:
      RayrlError: the id is unknown, the module or class of a "module:Class" id cannot be found, the env needs
        a package that is not installed, or its constructor (bad env_kwargs, say) or first reset raises.
    """
    env_kwargs = dict(env_kwargs or {})
    if render_mode is not None:  # only then: a user env's constructor need not take render_mode
        env_kwargs["render_mode"] = render_mode
    if ":" in env_id:
        env = RecordEpisodeStatistics(_make_user_env(env_id, env_kwargs))
    else:
        env = _make_registered_env(_find_spec(env_id), training, atari or AtariOptions(), env_kwargs)
    if seed is not None:
        try:
            env.reset(seed=seed)
        except Exception as error:  # the env's own code: name it and the exception in one line
            raise RayrlError(f"env {env_id!r} failed on its first reset: {one_line(error)}") from error
        env.action_space.seed(seed)
    return env


def _construction_error(env_id: str, env_kwargs: dict[str, Any], error: Exception) -> RayrlError:
    kwargs = f" with env_kwargs {env_kwargs}" if env_kwargs else ""
    return RayrlError(f"env {env_id!r} could not be built{kwargs}: {one_line(error)}")


def _find_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registry entry for `env_id`; ale_py's and minigrid's ids are registered on first need (importing either
    costs time), minigrid's for ids with its prefixes and ale_py's for any other unknown id."""
    if env_id not in gym.registry:
        if is_minigrid_id(env_id):
            register_minigrid_envs()
        else:
            _register_atari_envs()
    if env_id not in gym.registry:
        matches = difflib.get_close_matches(env_id, list(gym.registry), n=1)
        suggestion = f"; did you mean {matches[0]!r}?" if matches else ""
        raise RayrlError(f"unknown env id {env_id!r}{suggestion} {ID_HELP}")
    return gym.registry[env_id]


def _make_registered_env(
    spec: gym.envs.registration.EnvSpec, training: bool, atari: AtariOptions, env_kwargs: dict[str, Any]
) -> gym.Env:
    try:
        if spec.entry_point == ATARI_ENTRY_POINT:
            return make_atari_env(spec, training=training, options=atari, env_kwargs=env_kwargs)
        if is_minigrid_spec(spec):
            return make_minigrid_env(spec, env_kwargs)
        return RecordEpisodeStatistics(gym.make(spec, disable_env_checker=True, **env_kwargs))
    except gym.error.DependencyNotInstalled as error:  # e.g. Box2D for LunarLander, opencv for Atari
        raise RayrlError(f"env {spec.id!r} needs a package that is not installed: {error}") from error
    except RayrlError:
        raise
    except Exception as error:  # bad env_kwargs (TypeError), or the env's constructor raising
        raise _construction_error(spec.id, env_kwargs, error) from error


def _register_atari_envs() -> None:
    import ale_py

    gym.register_envs(ale_py)


def _make_user_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    """Imports `package.module` and instantiates its `ClassName` with env_kwargs."""
    module_name, _, class_name = env_id.partition(":")
    if not module_name or not class_name:
        raise RayrlError(f"bad env id {env_id!r}: a user env is written 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RayrlError(
            f"cannot import module {module_name!r} of env {env_id!r} ({error}); "
            "check the name and that the module is installed or on PYTHONPATH"
        ) from error
    env_class = getattr(module, class_name, None)
    if not _is_env_class(env_class):
        env_classes = [name for name, value in vars(module).items() if _is_env_class(value)]
        matches = difflib.get_close_matches(class_name, env_classes, n=1)
        suggestion = f"; did you mean '{module_name}:{matches[0]}'?" if matches else ""
        raise RayrlError(
            f"module {module_name!r} has no gymnasium.Env class {class_name!r}{suggestion} (env {env_id!r})"
        )
    try:
        return env_class(**env_kwargs)
    except Exception as error:  # bad env_kwargs (TypeError), or the user's constructor raising
        raise _construction_error(env_id, env_kwargs, error) from error


def _is_env_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, gym.Env)
