"""rayrl: the classic distributed deep-RL lineage as Ray actors."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``rayrl.load_policy`` and ``rayrl.Policy``, imported on first use: ``import rayrl`` stays free of torch."""
    if name in ("load_policy", "Policy"):
        from rayrl import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'rayrl' has no attribute '{name}'")
