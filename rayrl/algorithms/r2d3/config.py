"""R2D3's config (Paine et al. 2019, "Making Efficient Use of Demonstrations to Solve Hard Exploration Problems"):
R2D2's, plus the demonstrations and the share of each batch drawn from them."""

from __future__ import annotations

from dataclasses import dataclass

from rayrl.algorithms.r2d2 import config as r2d2
from rayrl.algorithms.r2d2.config import R2D2Config
from rayrl.config import check
from rayrl.errors import RayrlError


@dataclass(frozen=True)
class R2D3Config(R2D2Config):
    demos: str | None = None
    """The expert demonstrations: a Minari dataset id or path (write one with `rayrl record-demos`)."""
    demo_ratio: float = 1 / 256
    """The probability that a batch element comes from the demonstrations (the paper's rho; it sweeps 1/256 up)."""

    def __post_init__(self):
        super().__post_init__()
        check(0.0 < self.demo_ratio <= 1.0, "demo_ratio", self.demo_ratio, "use a probability in (0, 1]")

    def check_env_spaces(self, observation_space, action_space) -> None:
        """The demonstrations exist, load without running code, and were recorded in the env's spaces."""
        self.load_demos(observation_space, action_space)

    def load_demos(self, observation_space, action_space) -> list[dict]:
        """The demonstrations' episodes (:func:`rayrl.demos.load_demos`); one-line errors when there are none."""
        if self.demos is None:
            raise RayrlError("r2d3 learns from demonstrations: set demos to a Minari dataset id or path, e.g. "
                             "--set demos=rayrl/expert-v0 (record one with 'rayrl record-demos')")
        from rayrl.demos import load_demos

        return load_demos(self.demos, observation_space=observation_space, action_space=action_space)


# Small hard-exploration tasks (deep sea, MiniGrid): R2D2's classic-control preset with half of each batch from the
# demonstrations, since a few expert episodes among thousands of the agent's would hardly be sampled otherwise; a
# replay ratio of 8 over 8 envs, so that the learner's CPU goes to learning from what replay holds rather than the
# actors' share to stepping (a failed MiniGrid episode is hundreds of steps); 5-step returns (the paper's), which
# carry a sparse reward back faster; and no burn-in: episodes (an expert's above all) are about one sequence long,
# so nearly every sequence starts its episode from the exact (zero) state, and a burn-in would leave each episode's
# first steps untrained.
VECTOR_PRESET = dict(r2d2.VECTOR_PRESET, num_envs_per_worker=8, samples_per_insert=8.0, n_step=5, demo_ratio=0.5,
                     burn_in=0)

# Atari: the paper's settings (the dataclass defaults).
ATARI_PRESET: dict = {}
