"""GradSyncDataParallel: the module's own train_step runs; 2 CPU ranks of U2PL stay identical (gloo, torchrun)."""

import os
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.engine.model_wrappers import GradSyncDataParallel
from gen3d.registry import MODEL_WRAPPERS
from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT

U2PL_TINY = REPO_ROOT / "tests" / "data" / "configs" / "u2pl_tiny.py"


class OwnStep(BaseModel):
    """A model with its own step: two optimizer steps per call, a buffer that counts calls."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x, data_samples=None, mode="tensor"):
        return self.lin(x)

    def train_step(self, data, optim_wrapper):
        for _ in range(2):
            optim_wrapper.update_params(self.lin(data).square().mean())
        self.calls += 1
        return {"loss": torch.tensor(0.0)}


def test_single_process_equals_the_bare_model_and_restores_the_optimizer_step():
    torch.manual_seed(0)
    bare, x = OwnStep(), torch.randn(4, 3)
    wrapped_model = OwnStep()
    wrapped_model.load_state_dict(bare.state_dict())
    wrapper = MODEL_WRAPPERS.build(dict(type="GradSyncDataParallel", device_ids=None), default_args=dict(
        module=wrapped_model))
    assert isinstance(wrapper, GradSyncDataParallel)
    opt_a = OptimWrapper(torch.optim.SGD(bare.parameters(), lr=0.1))
    opt_b = OptimWrapper(torch.optim.SGD(wrapped_model.parameters(), lr=0.1))
    bare.train_step(x, opt_a)
    wrapper.train_step(x, opt_b)
    assert torch.equal(bare.lin.weight, wrapped_model.lin.weight) and int(wrapped_model.calls) == 1
    assert "step" not in vars(opt_b)  # the patched step is gone after the call
    with pytest.raises(TypeError, match="needs one OptimWrapper"):
        wrapper.train_step(x, OptimWrapperDict(a=opt_b))


@pytest.mark.slow
def test_two_process_u2pl_trains_in_sync(tmp_path):
    from gen3d.datasets.seg_synthesis import build_seg_demo_dataset

    root = build_seg_demo_dataset(tmp_path / "seg", n_labeled=4, n_unlabeled=4, n_val=2, size=64)
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "PORT": str(30500 + os.getpid() % 1000)}
    out = subprocess.run(["bash", str(REPO_ROOT / "tools" / "dist_train.sh"), str(U2PL_TINY), "2", "--work-dir",
                          str(work), "--data-root", str(root)], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "wrapped in GradSyncDataParallel" in log
    assert "ranks in sync" in log  # parameters and buffers (BN statistics, teacher, memory queues) identical
    ckpt = load_local_checkpoint(work / "epoch_2.pth")
    assert any(k.startswith("student.") for k in ckpt["state_dict"])  # bare keys, no wrapper prefix
    assert "mIoU" in log
