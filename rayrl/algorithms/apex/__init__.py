"""Ape-X (Horgan et al. 2018): distributed prioritized replay with many epsilon-greedy actors and one learner."""
