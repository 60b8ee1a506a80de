"""Waiting on a cluster that changes by itself (nodes joining and leaving, a job ending)."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every half second until it holds or ``timeout`` seconds pass; whether it holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()
