"""FST (arXiv 2209.06993) around a tiny stand-in teacher-student model: exact restores, future teacher, FST-D/W."""

import copy
import gc
import importlib

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import nn
from torch.nn import functional as F

from gen3d.models.segmentors.fst import FST, fst_momentum
from gen3d.models.segmentors.state_utils import (
    optimizer_state_numel,
    restore_module,
    restore_optimizer,
    snapshot_module,
    snapshot_optimizer,
)
from gen3d.registry import MODELS

K, B, C, H, W = 3, 2, 3, 9, 11
T = 5  # iteration of the FST steps under test; m_t = min(1 - 1/6, 0.99)
M = fst_momentum(T, 0.99)


class TinyTeacherStudent(BaseModel):
    """Stand-in for gen3d's TeacherStudentSegmentor: mean teacher over a conv-BN-conv net, deterministic losses."""

    def __init__(self) -> None:
        super().__init__()
        self.student = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, C, 1))
        self.teacher = copy.deepcopy(self.student).requires_grad_(False).eval()
        self.calls: list[dict] = []  # per compute_losses: the teacher's state and the unlabeled batch seen
        self.ema_calls: list[float | None] = []

    def train(self, mode: bool = True) -> "TinyTeacherStudent":
        super().train(mode)
        self.teacher.eval()
        return self

    def preprocess_batch(self, data: dict) -> dict:
        return {"x_l": data["labeled"]["inputs"].float(), "y": data["labeled"]["gt"],
                "x_u": data["unlabeled"]["inputs"].float()}

    def compute_losses(self, batch: dict, iteration: int) -> dict[str, torch.Tensor]:
        self.calls.append({"teacher": snapshot_module(self.teacher), "x_u": batch["x_u"], "iteration": iteration})
        with torch.no_grad():
            pseudo = self.teacher(batch["x_u"]).argmax(dim=1)
        return {"loss_sup": F.cross_entropy(self.student(batch["x_l"]), batch["y"]),
                "loss_unsup": F.cross_entropy(self.student(batch["x_u"]), pseudo)}

    @torch.no_grad()
    def ema_update(self, momentum: float | None = None) -> None:
        m = 0.99 if momentum is None else momentum
        self.ema_calls.append(m)
        for t, s in zip(self.teacher.parameters(), self.student.parameters()):
            t.mul_(m).add_(s.detach(), alpha=1.0 - m)

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = "tensor") -> torch.Tensor:
        return self.teacher(inputs)


def _batch(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    labeled = {"inputs": torch.randn(B, 3, H, W, generator=g), "gt": torch.randint(0, C, (B, H, W), generator=g)}
    return {"labeled": labeled,
            "unlabeled": {"inputs": torch.randn(B, 3, H, W, generator=g)}}


def _setup(optim: str = "sgd", **kwargs) -> tuple[FST, OptimWrapper]:
    torch.manual_seed(0)
    fst = FST(TinyTeacherStudent(), k=K, ema_alpha=0.99, **kwargs).train()
    params = fst.method.student.parameters()
    opt = (torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4) if optim == "sgd"
           else torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01))
    ow = OptimWrapper(opt)
    fst.train_step_at(_batch(100), ow, 0)  # plain step (m_0 = 0): creates the optimiser state
    future = [_batch(200 + i) for i in range(K)]
    fst.train_step_at({**_batch(101), "future": future}, ow, 1)  # one FST step: teacher != student from now on
    fst.method.calls.clear()
    fst.method.ema_calls.clear()
    return fst, ow


def _plain_step(method: TinyTeacherStudent, ow: OptimWrapper, batch: dict) -> None:
    loss = sum(method.compute_losses(method.preprocess_batch(batch), T).values())
    ow.update_params(loss)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _assert_same_optim(a: OptimWrapper, b: OptimWrapper) -> None:
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for key in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][key]), torch.as_tensor(sb[i][key])), (i, key)


@pytest.mark.parametrize("optim", ["sgd", "adamw"])
def test_snapshot_restore_is_bitwise(optim):
    fst, ow = _setup(optim)
    student = fst.method.student
    ids = [id(p) for p in student.parameters()]
    snap, osnap = snapshot_module(student), snapshot_optimizer(ow)
    ref_opt = copy.deepcopy(ow.optimizer.state_dict())
    for seed in range(2):  # changes parameters, BN running stats and momenta / moments
        _plain_step(fst.method, ow, _batch(seed))
    assert not torch.equal(student[1].running_mean, snap["1.running_mean"])
    for _ in range(2):  # the snapshot survives a restore followed by a step (no aliasing)
        restore_module(student, snap)
        restore_optimizer(ow, osnap)
        _assert_same(snapshot_module(student), snap)
        assert [id(p) for p in student.parameters()] == ids
        state = ow.optimizer.state_dict()["state"]
        for i, entry in ref_opt["state"].items():
            for key, value in entry.items():
                assert torch.equal(torch.as_tensor(state[i][key]), torch.as_tensor(value)), (i, key)
        _plain_step(fst.method, ow, _batch(7))
    empty = OptimWrapper(torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9))
    osnap_empty = snapshot_optimizer(empty)
    _plain_step(fst.method, empty, _batch(8))
    restore_optimizer(empty, osnap_empty, consume=True)
    assert len(empty.optimizer.state) == 0 and empty._inner_count == 0


@pytest.mark.parametrize("optim", ["sgd", "adamw"])
def test_fst_d_equals_one_real_step_with_the_future_teacher(optim):
    fst, ow = _setup(optim)
    ref, ref_ow = copy.deepcopy((fst, ow))  # state before the step (optimizer mapped onto the copied student)
    batch = _batch(3)
    log_vars = fst.train_step_at(batch, ow, T)
    method = fst.method
    assert len(method.calls) == K + 1 and all(c["iteration"] == T for c in method.calls)
    assert method.ema_calls == [M] * (K + 2)
    assert {f"fst_v{i}_loss" for i in range(K)} <= log_vars.keys() and "loss" in log_vars

    # the future teacher by hand: K x (EMA, virtual step) then EMA
    fut, fut_ow = copy.deepcopy((ref, ref_ow))
    for _ in range(K):
        fut.method.ema_update(M)
        _plain_step(fut.method, fut_ow, batch)
    fut.method.ema_update(M)
    future_teacher = snapshot_module(fut.method.teacher)
    _assert_same(method.calls[-1]["teacher"], future_teacher)  # the real step looked at the future teacher
    with pytest.raises(AssertionError):
        _assert_same(method.calls[0]["teacher"], future_teacher)

    # the student: one real step from the snapshot with the future teacher's pseudo-labels
    restore_module(ref.method.teacher, future_teacher)
    _plain_step(ref.method, ref_ow, batch)
    _assert_same(snapshot_module(method.student), snapshot_module(ref.method.student))
    _assert_same_optim(ow, ref_ow)
    ref.method.ema_update(M)
    _assert_same(snapshot_module(method.teacher), snapshot_module(ref.method.teacher))
    if optim == "adamw":
        steps = {int(s["step"]) for s in ow.optimizer.state.values()}
        assert steps == {3}, "3 real steps (t = 0, 1, T): virtual steps must not advance Adam's step count"


def test_fst_w_uses_k_virtual_students_on_future_batches():
    fst, ow = _setup(mode="W", same_batch=False)
    ref, ref_ow = copy.deepcopy((fst, ow))
    teacher0 = snapshot_module(fst.method.teacher)
    batch, future = _batch(3), [_batch(10 + i) for i in range(K)]
    fst.train_step_at({**batch, "future": future}, ow, T)
    method = fst.method
    assert len(method.calls) == K + 1 and method.ema_calls == [M, M]
    for i in range(K):  # virtual student i: batch i, unchanged teacher
        assert torch.equal(method.calls[i]["x_u"], future[i]["unlabeled"]["inputs"])
        _assert_same(method.calls[i]["teacher"], teacher0)
    assert torch.equal(method.calls[-1]["x_u"], batch["unlabeled"]["inputs"])

    students = []
    for b in future:  # each virtual student is one step from the snapshot
        s, s_ow = copy.deepcopy((ref, ref_ow))
        _plain_step(s.method, s_ow, b)
        students.append(dict(s.method.student.named_parameters()))
    expected = {}
    for name, t0 in teacher0.items():
        if name not in students[0]:  # buffers: the EMA is over parameters
            continue
        soup = torch.stack([s[name].detach() for s in students]).mean(dim=0)
        expected[name] = t0 * M + soup * (1 - M)
    for name, value in expected.items():
        torch.testing.assert_close(method.calls[-1]["teacher"][name], value, rtol=0, atol=1e-6)
    restore_module(ref.method.teacher, method.calls[-1]["teacher"])
    _plain_step(ref.method, ref_ow, batch)
    _assert_same(snapshot_module(method.student), snapshot_module(ref.method.student))
    _assert_same_optim(ow, ref_ow)
    with pytest.raises(ValueError, match="future"):
        fst.train_step_at(batch, ow, T)


def test_variants_and_plain_steps():
    fst, ow = _setup(ema_after_real_step=False)
    fst.train_step_at(_batch(3), ow, T)
    assert len(fst.method.calls) == K + 1 and len(fst.method.ema_calls) == K + 1
    fst, ow = _setup(restore_optimizer=False, restore_buffers=False)  # official code: params only
    fst.train_step_at(_batch(3), ow, T)
    assert len(fst.method.calls) == K + 1 and ow._inner_count == 3
    fst.method.calls.clear()
    fst.train_step_at(_batch(3), ow, 0)  # m = 0: a plain step
    assert len(fst.method.calls) == 1
    with pytest.raises(ValueError):
        FST(TinyTeacherStudent(), mode="X")
    with pytest.raises(TypeError):
        FST(nn.Linear(2, 2))
    x = torch.randn(1, 3, H, W)
    assert torch.equal(fst(x), fst.method.teacher(x))


def test_no_teacher_grads_and_no_growth_across_steps():
    fst, ow = _setup("adamw")
    sizes, live = [], []
    for t in range(T, T + 4):
        count = ow._inner_count
        fst.train_step_at(_batch(t), ow, t)
        fst.method.calls.clear()
        assert ow._inner_count == count + 1  # one real optimiser step per iteration
        sizes.append((len(ow.optimizer.state), optimizer_state_numel(ow)))
        if t in (T + 1, T + 3):
            gc.collect()
            live.append(sum(1 for o in gc.get_objects() if type(o) is torch.Tensor or type(o) is nn.Parameter))
    assert len(set(sizes)) == 1, sizes
    assert live[1] <= live[0], live
    assert all(p.grad is None and not p.requires_grad for p in fst.method.teacher.parameters())


def test_wraps_the_real_mean_teacher():
    try:
        importlib.import_module("gen3d.models.segmentors.teacher_student")
    except ImportError:
        pytest.skip("teacher_student.py not available")
    if "MeanTeacher" not in MODELS.module_dict:
        pytest.skip("MeanTeacher is not registered yet")
    from gen3d.structures import SegDataSample

    seg = dict(type="EncoderDecoder",
               backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", pretrained=False),
               decode_head=dict(type="DeepLabV3PlusHead", num_classes=C, channels=8, low_level_channels=4))
    torch.manual_seed(0)
    fst = MODELS.build(dict(type="FST", method=dict(type="MeanTeacher", segmentor=seg), k=1)).train()
    ow = OptimWrapper(torch.optim.SGD(fst.method.student.parameters(), lr=0.01, momentum=0.9))

    def stream(labeled: bool) -> dict:
        samples = []
        for _ in range(B):
            sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
            if labeled:
                sample.gt_sem_seg = torch.randint(0, C, (64, 64))
            samples.append(sample)
        inputs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(B)]
        return {"inputs": inputs, "inputs_strong": None if labeled else inputs, "data_samples": samples}

    for t in range(2):  # t = 0: plain step; t = 1: FST-D
        log_vars = fst.train_step_at({"labeled": stream(True), "unlabeled": stream(False)}, ow, t)
        assert torch.isfinite(log_vars["loss"])
    assert all(p.grad is None for p in fst.method.teacher.parameters())
    with torch.no_grad():
        assert fst.eval()(torch.randn(1, 3, 64, 64)).shape == (1, C, 64, 64)
