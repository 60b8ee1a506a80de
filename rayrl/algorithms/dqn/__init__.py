"""DQN (Mnih et al. 2015) with double Q, dueling, n-step and prioritized replay as options."""
