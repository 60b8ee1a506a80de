"""rayrl: the classic distributed deep-RL lineage as Ray actors."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``rayrl.train`` (one training run, as ``rayrl train``), ``rayrl.load_policy``, ``rayrl.Policy`` and
    ``rayrl.Trainable`` (the Tune Trainable of any algorithm), imported on first use: ``import rayrl`` stays free of
    torch and Ray."""
    if name == "train":
        from rayrl.training import train

        return train
    if name in ("load_policy", "Policy"):
        from rayrl import policy

        return getattr(policy, name)
    if name == "Trainable":
        from rayrl.tune.trainable import RayrlTrainable

        return RayrlTrainable
    raise AttributeError(f"module 'rayrl' has no attribute '{name}'")
