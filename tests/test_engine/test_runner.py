"""gen3d's Runner pieces that need no training run: the wrapper check, and the gpu marker's skip."""

import pytest
import torch
from mmengine.model import BaseModel

from gen3d.engine.runner import check_ddp_supports_model


class _PlainStep(BaseModel):
    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs


class _OwnStep(_PlainStep):
    def train_step(self, data, optim_wrapper):
        return {}


@pytest.mark.parametrize("wrapper", ["MMDistributedDataParallel", "DistributedDataParallel"])
def test_ddp_that_would_skip_an_own_train_step_is_refused(wrapper):
    with pytest.raises(TypeError, match=f"_OwnStep writes its own train_step, which {wrapper} would bypass"):
        check_ddp_supports_model(_OwnStep(), wrapper)
    check_ddp_supports_model(_PlainStep(), wrapper)  # forward(mode='loss') models are fine with DDP


@pytest.mark.parametrize("wrapper", ["GradSyncDataParallel", "MMSeparateDistributedDataParallel"])
def test_wrappers_that_call_the_own_train_step_are_accepted(wrapper):
    check_ddp_supports_model(_OwnStep(), wrapper)


@pytest.mark.gpu
def test_gpu_marked_tests_run_only_where_cuda_is():
    # tests/conftest.py skips this on CPU machines; on a GPU machine it runs.
    assert torch.cuda.is_available()
    assert (torch.ones(2, device="cuda") * 2).sum().item() == 4
