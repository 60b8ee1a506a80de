"""GORILA: DQN on a parameter server with distributed replay (Nair et al. 2015)."""
