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
