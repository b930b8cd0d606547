"""MeanTeacher: confidence gate, warm-up, and FST's Mean-Teacher baseline (entropy filter, joint student pass)."""

import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn
from torch.nn import functional as F

from gen3d.models.segmentors import FST, MeanTeacher

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


# ---------------------------------------------------------------- FST's Mean-Teacher baseline (semi_seg/train_semi.py)
#: The settings of FST's ``mt`` baseline (``drop_percent: 80``, ``apply_aug: False``).
FST_MT = dict(pseudo_filter="entropy", keep_percent=80.0, student_view="weak", joint_forward=True, cutmix_prob=0.0)


def _no_dropout(model: MeanTeacher) -> MeanTeacher:
    """Zero every dropout so that train-mode passes are deterministic (BN batch statistics only)."""
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.p = 0.0
    return model


def _reference(model: MeanTeacher, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Recompute FST's MT step by hand on a copy: pseudo-labels, the student's unlabeled logits, teacher entropy.

    Returns:
        ``pseudo (B_u, H, W)``, ``student logits (B_u, C, H, W)`` and ``entropy (B_u, H, W)``, all at the label size.
    """
    ref = copy.deepcopy(model)
    x_l, x_u = batch["labeled"]["inputs"], batch["unlabeled"]["inputs"]
    n_l, size, ac = x_l.shape[0], x_u.shape[-2:], ref.student.align_corners
    with torch.no_grad():  # eval-mode teacher first: the train-mode pass below moves its BN running statistics
        pseudo = F.interpolate(ref.teacher.eval().decode_head(ref.teacher.extract_feat(x_u)), size, mode="bilinear",
                               align_corners=ac).softmax(dim=1).argmax(dim=1)
        t_logits = ref.teacher.train().decode_head(ref.teacher.extract_feat(torch.cat([x_l, x_u])))[n_l:]
        prob = F.interpolate(t_logits, size, mode="bilinear", align_corners=ac).softmax(dim=1)
        entropy = -(prob * torch.log(prob + 1e-10)).sum(dim=1)  # loss_helper.py compute_unsupervised_loss
        s_logits = ref.student.decode_head(ref.student.extract_feat(torch.cat([x_l, x_u])))[n_l:]
    return pseudo, F.interpolate(s_logits, size, mode="bilinear", align_corners=ac), entropy


def _official_loss(logits: torch.Tensor, pseudo: torch.Tensor, entropy: torch.Tensor, percent: float):
    """``compute_unsupervised_loss``: drop H >= np.percentile(H, percent); CE over the rest x B*H*W / #kept."""
    keep = entropy < float(np.percentile(entropy.flatten().double().numpy(), percent))
    ce = F.cross_entropy(logits, pseudo, reduction="none")
    return ce[keep].sum() / keep.sum() * (pseudo.numel() / keep.sum()), keep


def test_entropy_filter_matches_the_official_loss_by_hand():
    model = _no_dropout(make_model(MeanTeacher, **FST_MT)).train()
    batch = model.preprocess_batch(make_batch())
    pseudo, logits, entropy = _reference(model, batch)
    expected, keep = _official_loss(logits, pseudo, entropy, 80.0)
    losses = model.compute_losses(batch, iteration=5)
    torch.testing.assert_close(losses["loss_unsup"], expected, rtol=1e-4, atol=1e-6)
    assert losses["unsup_kept"].item() == pytest.approx(keep.float().mean().item())
    assert 0.79 < keep.float().mean().item() <= 0.8
    # the same step with the confidence gate (everything kept at conf_thresh 0) is the plain mean CE: a different loss
    plain = _no_dropout(make_model(MeanTeacher, **{**FST_MT, "pseudo_filter": "confidence"}, conf_thresh=0.0))
    plain_loss = plain.train().compute_losses(batch, iteration=5)["loss_unsup"]
    torch.testing.assert_close(plain_loss, F.cross_entropy(logits, pseudo), rtol=1e-4, atol=1e-6)
    assert not torch.allclose(plain_loss, expected)


@pytest.mark.parametrize("keep_percent", [50.0, 75.0])
def test_entropy_filter_keeps_exactly_the_lowest_entropy_pixels(monkeypatch, keep_percent):
    """Tiny case (1 + 1 images of 32 x 32): distinct entropies 0..1023, so the kept set is exactly the lowest k %."""
    model = _no_dropout(make_model(MeanTeacher, **{**FST_MT, "keep_percent": keep_percent})).train()
    batch = model.preprocess_batch(make_batch(batch=1, size=32))
    pseudo, logits, _ = _reference(model, batch)
    entropy = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0)).float().view(1, 32, 32)
    monkeypatch.setattr(model, "_teacher_pass", lambda x_l, x_s: entropy)
    losses = model.compute_losses(batch, iteration=5)
    keep = entropy < keep_percent / 100 * 1024  # ranks 0 .. k - 1
    assert losses["unsup_kept"].item() == keep_percent / 100
    ce = F.cross_entropy(logits, pseudo, reduction="none")
    expected = ce[keep].mean() * (1024 / keep.sum())
    torch.testing.assert_close(losses["loss_unsup"], expected, rtol=1e-4, atol=1e-6)
    dropped = ce[~keep].mean() * (1024 / (~keep).sum())  # the complementary set gives another value
    assert not torch.allclose(losses["loss_unsup"], dropped)


class _Recorder:
    """Forward hook that keeps the input batch of every call."""

    def __init__(self, module: nn.Module) -> None:
        self.inputs: list[torch.Tensor] = []
        self.handle = module.register_forward_hook(lambda m, args, out: self.inputs.append(args[0].detach().clone()))


@pytest.mark.parametrize("pseudo_filter", ["entropy", "confidence"])
def test_joint_forward_runs_one_student_pass_on_the_concatenated_batch(pseudo_filter):
    model = make_model(MeanTeacher, **{**FST_MT, "pseudo_filter": pseudo_filter}).train()
    batch = model.preprocess_batch(make_batch())
    student, teacher = _Recorder(model.student.backbone), _Recorder(model.teacher.backbone)
    losses = model.compute_losses(batch, iteration=5)
    joint = torch.cat([batch["labeled"]["inputs"], batch["unlabeled"]["inputs"]])  # weak view, no CutMix
    assert len(student.inputs) == 1 and torch.equal(student.inputs[0], joint)
    # teacher: eval-mode pseudo-labels on x_u, then the no-grad train-mode pass on the student's batch
    assert len(teacher.inputs) == 2 and torch.equal(teacher.inputs[0], batch["unlabeled"]["inputs"])
    assert torch.equal(teacher.inputs[1], joint)
    assert {"loss_sup", "loss_unsup", "acc_seg", "unsup_kept"} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert all(p.grad is None for p in model.teacher.parameters())


def test_default_runs_separate_student_passes_on_the_strong_view():
    model = make_model(MeanTeacher, conf_thresh=0.0, cutmix_prob=0.0).train()
    assert (model.pseudo_filter, model.student_view, model.joint_forward) == ("confidence", "strong", False)
    batch = model.preprocess_batch(make_batch())
    student = _Recorder(model.student.backbone)
    model.compute_losses(batch, iteration=5)
    assert len(student.inputs) == 2
    assert torch.equal(student.inputs[0], batch["labeled"]["inputs"])
    assert torch.equal(student.inputs[1], batch["unlabeled"]["inputs_strong"])


def test_cutmix_mixes_the_student_and_teacher_batch_alike():
    model = make_model(MeanTeacher, **{**FST_MT, "cutmix_prob": 1.0}).train()
    batch = model.preprocess_batch(make_batch())
    student, teacher = _Recorder(model.student.backbone), _Recorder(model.teacher.backbone)
    model.compute_losses(batch, iteration=5)
    n_l, x_u = batch["labeled"]["inputs"].shape[0], batch["unlabeled"]["inputs"]
    mixed = student.inputs[0][n_l:]
    assert not torch.equal(mixed, x_u)
    assert torch.equal(teacher.inputs[1], student.inputs[0])
    # every pixel comes from the image itself or from its partner (i + 1) mod B
    own, partner = (mixed == x_u).all(dim=1), (mixed == torch.roll(x_u, -1, dims=0)).all(dim=1)
    assert (own | partner).all() and partner.any()


def test_entropy_without_teacher_bn_uses_an_eval_mode_pass():
    model = make_model(MeanTeacher, **FST_MT, teacher_bn=False).train()
    stats = _bn_stats(model.teacher)
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=5)
    assert all(torch.equal(a, b) for a, b in zip(stats, _bn_stats(model.teacher)))
    assert torch.isfinite(losses["loss_unsup"]) and 0.7 < losses["unsup_kept"] <= 0.8


@pytest.mark.parametrize("kwargs,match", [
    (dict(pseudo_filter="entropies"), "pseudo_filter"), (dict(pseudo_filter=None), "pseudo_filter"),
    (dict(student_view="colour"), "student_view"), (dict(keep_percent=0), "keep_percent"),
    (dict(keep_percent=100.5), "keep_percent"), (dict(keep_percent="80"), "keep_percent"),
    (dict(keep_percent=True), "keep_percent"), (dict(joint_forward="yes"), "joint_forward"),
    (dict(teacher_bn=1), "teacher_bn"), (dict(cutmix_prob=1.5), "cutmix_prob"), (dict(lambda_u=-1.0), "lambda_u"),
])
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(MeanTeacher, **kwargs)


def test_fst_d_runs_around_the_fst_mean_teacher_baseline():
    torch.manual_seed(0)
    method = make_model(MeanTeacher, **FST_MT)
    fst = FST(method=method, k=1, restore_optimizer=False, restore_buffers=False).train()
    optim = OptimWrapper(torch.optim.SGD(method.student.parameters(), lr=0.01, momentum=0.9))
    student = _Recorder(method.student.backbone)
    log = fst.train_step_at(make_batch(), optim, 2)  # epoch 1: one virtual step + the real step
    assert len(student.inputs) == 2 and all(x.shape[0] == 4 for x in student.inputs)  # one joint pass per step
    assert torch.isfinite(log["loss"]) and "fst_v0_loss" in log and log["unsup_kept"] > 0.7
    assert all(p.grad is None for p in method.teacher.parameters())
