"""Networks: encoders (MLP, Nature CNN), action distributions and the actor-critic model."""

from rayrl.models.actor_critic import ActorCritic, action_bounds, make_distribution
from rayrl.models.distributions import Categorical, DiagGaussian
from rayrl.models.encoders import MLP, NatureCNN, make_encoder

__all__ = ["ActorCritic", "Categorical", "DiagGaussian", "MLP", "NatureCNN", "action_bounds", "make_distribution",
           "make_encoder"]
