"""One intra-op thread for the GeoD tests: tiny convs on a shared 2-core machine run ~50x slower with two threads."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
