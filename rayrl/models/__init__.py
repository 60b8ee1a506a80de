"""Networks: encoders (MLP, Nature CNN), action distributions, the actor-critic model, Q-networks and their recurrent
(LSTM) versions.

Names are imported on first use, so that ``rayrl.models.spaces`` (space checks) does not pull in torch.
"""

import importlib

_EXPORTS = {
    "ActorCritic": "actor_critic", "make_distribution": "actor_critic", "make_policy_head": "actor_critic",
    "Categorical": "distributions", "DiagGaussian": "distributions",
    "MLP": "encoders", "NatureCNN": "encoders", "make_encoder": "encoders",
    "DuelingHead": "q_network", "QNetwork": "q_network",
    "RecurrentActorCritic": "recurrent", "RecurrentCore": "recurrent", "RecurrentQNetwork": "recurrent",
    "stack_frames": "recurrent",
    "action_bounds": "spaces", "check_action_space": "spaces",
    "check_discrete_action_space": "spaces", "check_observation_space": "spaces",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rayrl.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rayrl.models.{_EXPORTS[name]}"), name)
