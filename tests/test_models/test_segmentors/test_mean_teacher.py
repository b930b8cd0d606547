"""MeanTeacher: confidence gate and warm-up."""

import torch

from gen3d.models.segmentors import MeanTeacher

from .test_teacher_student import make_batch, make_model


def test_confidence_gate_drops_everything_above_one():
    model = make_model(MeanTeacher, conf_thresh=1.1).train()
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=0)
    assert losses["unsup_kept"] == 0 and losses["loss_unsup"] == 0
    assert torch.isfinite(losses["loss_sup"])


def test_warmup_skips_unlabeled_loss():
    model = make_model(MeanTeacher, sup_only_epochs=1).train()
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=1)
    assert "loss_unsup" not in losses


def _bn_stats(net: torch.nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var"))]


def test_teacher_bn_statistics_follow_the_data():
    """The EMA covers parameters only: the teacher's BN statistics come from its own train-mode passes (FST-semi)."""
    for iteration in (0, 5):  # warm-up (labeled batch), then semi-supervised step ([x_l; x_u])
        model = make_model(MeanTeacher, sup_only_epochs=1).train()
        stats = _bn_stats(model.teacher)
        model.compute_losses(model.preprocess_batch(make_batch()), iteration=iteration)
        assert any(not torch.equal(a, b) for a, b in zip(stats, _bn_stats(model.teacher)))
        assert not model.teacher.training
    off = make_model(MeanTeacher, sup_only_epochs=1, teacher_bn=False).train()
    stats = _bn_stats(off.teacher)
    off.compute_losses(off.preprocess_batch(make_batch()), iteration=5)
    assert all(torch.equal(a, b) for a, b in zip(stats, _bn_stats(off.teacher)))
