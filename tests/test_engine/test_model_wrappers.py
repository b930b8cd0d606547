"""GradSyncDataParallel: the module's own train_step runs; 2 CPU ranks of U2PL stay identical (gloo, torchrun)."""

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.engine import model_wrappers
from gen3d.engine.model_wrappers import RANK_SYNCED_ATTR, GradSyncDataParallel
from gen3d.models.losses.u2pl_losses import U2PLContrastiveLoss
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


class QueueStep(BaseModel):
    """Per-rank BN statistics, bool and larger per-rank buffers; U2PL queues filled by the all-gathering enqueue."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
        self.contrastive = U2PLContrastiveLoss(num_classes=2, feat_dim=4, queue_size=64, queue_size_bg=64)
        self.register_buffer("flags", torch.zeros(6, dtype=torch.bool))
        self.register_buffer("big", torch.zeros(24))

    def forward(self, x, data_samples=None, mode="tensor"):
        return self.net(x)

    def train_step(self, data, optim_wrapper):
        feats = self.net(data)
        optim_wrapper.update_params(feats.square().mean())
        for c in range(2):
            self.contrastive.enqueue(c, feats.detach()[c::2])
        self.flags.copy_(feats[:, 0] > 0)
        self.big.copy_(feats.detach().flatten())
        return {"loss": torch.tensor(0.0)}


def _two_rank_worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    torch_dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(rank)  # different weights and data per rank: the build broadcast aligns the weights
    model = QueueStep()
    wrapper = GradSyncDataParallel(model, check_synced_interval=1)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    model_wrappers.BUCKET_BYTES = 40  # several buckets per dtype, and `big` (96 bytes) alone
    sent, original = [], model_wrappers._broadcast_coalesced  # what the per-step broadcast sends
    model_wrappers._broadcast_coalesced = lambda ts: (sent.extend(ts), original(ts))[1]
    queue_sent, bn_sent = False, True
    for _ in range(3):
        sent.clear()
        wrapper.train_step(torch.randn(6, 3) + rank, optim)
        queues = [model.contrastive.queue(c) for c in range(2)]
        queue_sent |= any(t is q for t in sent for q in queues)
        bn_sent &= any(t is model.net[1].running_mean for t in sent)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if rank == 1:  # a rank that went astray: the debug check fails on every rank
        model.contrastive.queue_0.add_(1.0)
    try:
        wrapper.check_synced_buffers()
        error = ""
    except RuntimeError as exc:
        error = str(exc)
    torch.save(dict(state=state, queue_sent=queue_sent, bn_sent=bn_sent, error=error), f"{out_dir}/rank{rank}.pt")
    torch_dist.destroy_process_group()


def test_two_ranks_stay_identical_without_broadcasting_the_queues(tmp_path):
    # fork: the children inherit the imported modules (a spawn re-imports torch and mmengine, ~5 s per rank)
    torch.multiprocessing.start_processes(_two_rank_worker, args=(str(tmp_path / "pg"), str(tmp_path)), nprocs=2,
                                          start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert r0["state"].keys() == r1["state"].keys()
    assert r0["state"]["contrastive.queue_0"].shape[0] == 18  # 3 steps x 2 ranks x 3 keys
    for key, value in r0["state"].items():  # weights, BN statistics, bool / large buffers and queues identical
        assert torch.equal(value, r1["state"][key]), key
    assert not r0["queue_sent"] and not r1["queue_sent"]  # the all-gathered queues are not broadcast
    assert r0["bn_sent"] and r1["bn_sent"]  # per-rank BN statistics are
    for r in (r0, r1):
        assert "rank 1: U2PLContrastiveLoss.queue_0" in r["error"]
    assert set(getattr(U2PLContrastiveLoss(num_classes=2), RANK_SYNCED_ATTR)) == {"queue_0", "queue_1"}


def test_fingerprint_sees_changed_bits_and_row_order():
    from gen3d.engine.model_wrappers import fingerprint

    x = torch.randn(50, 8)
    assert fingerprint(x) == fingerprint(x.clone())
    bumped = x.clone()
    bumped[17, 3] = torch.nextafter(bumped[17, 3], torch.tensor(float("inf")))  # one ulp
    swapped = x[[1, 0, *range(2, 50)]]
    assert len({fingerprint(x), fingerprint(bumped), fingerprint(swapped), fingerprint(x[:49])}) == 4
    for t in (torch.zeros(0, 4), torch.tensor(3), torch.tensor([True, False, True]), torch.ones(4, 3).bool()):
        assert fingerprint(t) == fingerprint(t.clone())
    assert fingerprint(torch.tensor([True, False])) != fingerprint(torch.tensor([False, True]))
