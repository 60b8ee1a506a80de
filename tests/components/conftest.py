"""Components built in the test process (workers set torch to one thread) leave the process as they found it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """Workers limit torch to one thread for the whole process; give the other tests their threads back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
