"""Deep sea: bsuite's hard-exploration chain (Osband et al. 2020, "Behaviour Suite for Reinforcement Learning").

An N x N grid. The agent starts in the top-left cell and descends one row per step, moving one column left or right
(clipped at the walls); the episode terminates after N steps, on the bottom row. Moving right costs 0.01 / N; moving
right from the bottom-right cell pays 1 more. The only way there is to go right at every step (return 0.99): a
random policy gets there once in 2^N episodes, while any policy that gives up the small move cost never does.

Which of the two actions moves right is drawn per cell ("randomised action mapping") so that no fixed action
solves it. The draw is bsuite's own (``np.random.RandomState(mapping_seed).binomial(1, 0.5, [N, N])``), so a mapping
seed gives the same mapping as ``bsuite.environments.deep_sea.DeepSea(mapping_seed=...)``. Unlike bsuite the
default mapping seed is fixed (0), not random: every copy of the env that a distributed run makes (each rollout
worker's, the evaluator's) must be the same MDP, and a run's `env_kwargs` reach them all. This is bsuite's
deterministic version (no "windy" transitions, no noisy rewards).

Observation: float32 [N, N], one-hot of the agent's cell (all zeros after the last step, as in bsuite).
Actions: Discrete(2).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rayrl.errors import RayrlError

MOVE_COST = 0.01
"""bsuite's unscaled move cost: moving right costs MOVE_COST / N, so the optimal return is 1 - MOVE_COST."""

CELL_PIXELS = 16
"""The side of a cell in rendered frames."""


class DeepSeaEnv(gym.Env):
    """bsuite's deep sea (deterministic), registered as ``rayrl/DeepSea-v0``.

    Args:
      size: N, the side of the grid and the episode length.
      mapping_seed: seeds the per-cell action mapping; envs with the same size and mapping seed are the same MDP.
      render_mode: None, or "rgb_array" for frames (the agent white, the rewarding cell green).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, size: int = 10, mapping_seed: int = 0, render_mode: str | None = None):
        if size < 1:
            raise RayrlError(f"deep sea size must be at least 1, got {size}; set env_kwargs {{'size': N}}")
        if render_mode not in (None, "rgb_array"):
            raise RayrlError(f"deep sea renders only 'rgb_array', got render_mode {render_mode!r}")
        self.size = size
        self.render_mode = render_mode
        self.action_mapping = np.random.RandomState(mapping_seed).binomial(1, 0.5, [size, size])
        """int [N, N]: the action that moves right in each cell (row, column); the other one moves left."""
        self.observation_space = gym.spaces.Box(0.0, 1.0, (size, size), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.row = 0
        self.column = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)  # the dynamics are deterministic: the seed changes nothing but np_random
        self.row, self.column = 0, 0
        return self._observation(), {}

    def step(self, action):
        if self.row >= self.size:
            raise RayrlError("deep sea stepped after its episode terminated; call reset() first")
        right = int(action) == self.action_mapping[self.row, self.column]
        reward = 0.0
        if right:
            if self.column == self.size - 1:  # reachable only on the bottom row
                reward += 1.0
            reward -= MOVE_COST / self.size
            self.column = min(self.column + 1, self.size - 1)
        else:
            self.column = max(self.column - 1, 0)
        self.row += 1
        return self._observation(), reward, self.row == self.size, False, {}

    def _observation(self) -> np.ndarray:
        obs = np.zeros((self.size, self.size), np.float32)
        if self.row < self.size:
            obs[self.row, self.column] = 1.0
        return obs

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        frame = np.zeros((self.size, self.size, 3), np.uint8)
        frame[-1, -1] = (0, 160, 0)
        if self.row < self.size:
            frame[self.row, self.column] = (255, 255, 255)
        return np.kron(frame, np.ones((CELL_PIXELS, CELL_PIXELS, 1), np.uint8))
