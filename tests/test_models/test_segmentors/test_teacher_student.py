"""TeacherStudentSegmentor interface, EMA math, teacher gradients and the two-stream preprocessing."""

import inspect

import pytest
import torch
from mmengine.optim import OptimWrapper

from gen3d.models.segmentors import U2PL, MeanTeacher, TeacherStudentSegmentor
from gen3d.structures import SegDataSample

NUM_CLASSES, SIZE = 3, 64
STUDENT = dict(
    backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", output_stride=16, pretrained=False),
    decode_head=dict(type="DeepLabV3PlusHead", num_classes=NUM_CLASSES, channels=16, low_level_channels=8,
                     with_repr=True, repr_channels=16),
    data_preprocessor=dict(type="ImgDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3),
)


def make_batch(batch: int = 2, size: int = SIZE, seed: int = 0) -> dict:
    """A two-stream batch as SemiSupervisedDataset + pseudo_collate give it (left half class 1, right half 2)."""
    g = torch.Generator().manual_seed(seed)
    gt = torch.ones(size, size, dtype=torch.long)
    gt[:, size // 2:] = 2
    gt[: size // 8] = 0
    img = torch.zeros(3, size, size)
    for c in range(NUM_CLASSES):
        img[c % 3][gt == c] = 200.0

    def image() -> torch.Tensor:
        return (img + torch.rand(3, size, size, generator=g) * 50).to(torch.uint8)

    def sample(with_gt: bool) -> SegDataSample:
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        if with_gt:
            s.gt_sem_seg = gt.clone()
        return s

    return {
        "labeled": {"inputs": [image() for _ in range(batch)], "data_samples": [sample(True) for _ in range(batch)]},
        "unlabeled": {"inputs": [image() for _ in range(batch)], "inputs_strong": [image() for _ in range(batch)],
                      "data_samples": [sample(False) for _ in range(batch)]},
    }


def make_model(cls: type = U2PL, **kwargs) -> TeacherStudentSegmentor:
    torch.manual_seed(0)
    return cls(**STUDENT, iters_per_epoch=2, **kwargs)


def test_interface_signatures():
    for name, params in [("preprocess_batch", ["data"]), ("compute_losses", ["batch", "iteration"]),
                         ("ema_update", ["momentum"]), ("train_step", ["data", "optim_wrapper"]),
                         ("forward", ["inputs", "data_samples", "mode"])]:
        sig = inspect.signature(getattr(TeacherStudentSegmentor, name))
        assert all(p in sig.parameters for p in params), (name, sig)
    assert inspect.signature(TeacherStudentSegmentor.ema_update).parameters["momentum"].default is None
    assert inspect.signature(TeacherStudentSegmentor).parameters["eval_model"].default == "teacher"
    assert issubclass(U2PL, TeacherStudentSegmentor) and issubclass(MeanTeacher, TeacherStudentSegmentor)


def test_teacher_is_frozen_copy_and_eval_mode():
    model = make_model(MeanTeacher).train()
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.training and model.student.training
    for t, s in zip(model.teacher.parameters(), model.student.parameters()):
        assert torch.equal(t, s) and t.data_ptr() != s.data_ptr()


def test_ema_update_math():
    model = make_model(MeanTeacher)
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    t0 = [p.clone() for p in model.teacher.parameters()]
    bn_before = [b.clone() for b in model.teacher.buffers()]
    model.ema_update(0.9)
    for t, t_old, s in zip(model.teacher.parameters(), t0, model.student.parameters()):
        torch.testing.assert_close(t, 0.9 * t_old + 0.1 * s)
    assert all(torch.equal(a, b) for a, b in zip(bn_before, model.teacher.buffers()))  # parameters only
    model.ema_update(0.0)
    assert all(torch.equal(t, s) for t, s in zip(model.teacher.parameters(), model.student.parameters()))


def test_momentum_schedule():
    model = make_model(U2PL, sup_only_epochs=1)  # 2 iterations per epoch
    assert model.momentum_at(0) is None and model.momentum_at(1) is None  # supervised warm-up
    assert model.momentum_at(2) == 0.0 and model.momentum_at(3) == 0.0  # copy epoch
    assert model.momentum_at(4) == pytest.approx(1 - 1 / 3)
    assert model.momentum_at(10_000) == pytest.approx(0.99)
    # the ramp min(1 - 1 / (it - it0 + 1), 0.99) of train_semi.py, it0 = sup_only_epoch * len(loader) = 2
    for it in (4, 5, 50, 101, 102, 500):
        assert model.momentum_at(it) == pytest.approx(min(1 - 1 / (it - 2 + 1), 0.99))
    # no warm-up (Cityscapes): epoch 0 is the copy epoch (`epoch == sup_only_epoch` in train_semi.py)
    model = make_model(U2PL, sup_only_epochs=0)
    assert model.momentum_at(0) == 0.0 and model.momentum_at(1) == 0.0
    assert model.momentum_at(2) == pytest.approx(1 - 1 / 3)


def test_copy_epoch_then_ema_ramp_through_train_step():
    """Copy epoch: teacher == student after every step; then teacher <- m T + (1 - m) S over parameters only."""
    model = make_model(U2PL, sup_only_epochs=1, max_epochs=10,
                       contrastive=dict(num_queries=4, num_negatives=4, queue_size=20, queue_size_bg=20)).train()
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.01))
    data = make_batch()
    model.train_step_at(data, optim, iteration=0)  # warm-up: the teacher's parameters do not move
    assert not all(torch.equal(t, s) for t, s in zip(model.teacher.parameters(), model.student.parameters()))
    for it in (2, 3):  # copy epoch
        log = model.train_step_at(data, optim, iteration=it)
        assert log["ema_momentum"] == 0.0
        assert all(torch.equal(t, s) for t, s in zip(model.teacher.parameters(), model.student.parameters()))
    before = [t.clone() for t in model.teacher.parameters()]
    log = model.train_step_at(data, optim, iteration=4)
    m = 1 - 1 / 3
    assert log["ema_momentum"] == pytest.approx(m)
    for t, t_old, s in zip(model.teacher.parameters(), before, model.student.parameters()):
        torch.testing.assert_close(t, m * t_old + (1 - m) * s)


def test_preprocess_and_teacher_gets_no_grad():
    model = make_model(MeanTeacher, cutmix_prob=1.0).train()
    batch = model.preprocess_batch(make_batch())
    assert batch["labeled"]["inputs"].dtype == torch.float32 and batch["labeled"]["inputs"].shape == (2, 3, 64, 64)
    assert batch["labeled"]["gt"].shape == (2, 64, 64) and batch["unlabeled"]["inputs_strong"].shape == (2, 3, 64, 64)
    assert batch["labeled"]["inputs"].abs().max() <= 1.0 + 1e-6
    losses = model.compute_losses(batch, iteration=0)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None for p in model.student.parameters())


def test_forward_uses_eval_model():
    model = make_model(MeanTeacher).eval()
    with torch.no_grad():
        for p in model.teacher.decode_head.parameters():
            p.add_(0.5)
        x = torch.rand(1, 3, 64, 64)
        torch.testing.assert_close(model(x), model.teacher(x))
        model.eval_model = "student"
        torch.testing.assert_close(model(x), model.student(x))
        preds = model(x, None, mode="predict")
    assert preds[0].pred_sem_seg.shape == (64, 64)


def test_mean_teacher_train_step():
    model = make_model(MeanTeacher, conf_thresh=0.0).train()
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.01, momentum=0.9))
    log = model.train_step_at(make_batch(), optim, iteration=5)  # momentum 1 - 1/6 (iteration 0 copies)
    assert {"loss", "loss_sup", "loss_unsup"} <= set(log) and torch.isfinite(log["loss"])
    assert log["ema_momentum"] == pytest.approx(1 - 1 / 6)
    assert log["loss_unsup"] > 0
    assert not all(torch.equal(t, s) for t, s in zip(model.teacher.parameters(), model.student.parameters()))
