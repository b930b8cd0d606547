"""gen3d.utils.benchmark: the denormal flush the training benchmarks time under is scoped to its block."""

import pytest
import torch

from gen3d.utils.benchmark import flush_denormals


def test_flush_denormals_is_on_inside_the_block_only():
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # subnormal in float32
    with flush_denormals("cpu") as on:
        inside = float(tiny * 1.0)
    outside = float(tiny * 1.0)
    if not on:
        pytest.skip("this CPU cannot flush denormals (torch.set_flush_denormal returned False)")
    assert inside == 0.0 and outside > 0.0
    with flush_denormals("cuda") as on_cuda:  # never touches the CPU mode for a CUDA run
        assert not on_cuda and float(tiny * 1.0) > 0.0
