"""rayrl: the classic distributed deep-RL lineage as Ray actors."""

__version__ = "0.1.0"
