"""U2PL: CutMix consistency, a full train step through an OptimWrapper, loss decrease, warm-up and checkpoints."""

import pytest
import torch
from mmengine.optim import OptimWrapper

from gen3d.models.segmentors import U2PL
from gen3d.models.segmentors.cutmix import apply_cutmix, cutmix_boxes, cutmix_mask, random_cutmix

from .test_teacher_student import make_batch, make_model


def test_cutmix_mixes_images_and_labels_consistently():
    g = torch.Generator().manual_seed(0)
    images = torch.arange(4, dtype=torch.float).view(4, 1, 1, 1).expand(4, 3, 20, 30).clone()
    labels = torch.arange(4).view(4, 1, 1).expand(4, 20, 30).clone()
    (mixed, mixed_lab), mask = random_cutmix(images, labels, prob=1.0, generator=g)
    assert mask is not None and mask.shape == (4, 20, 30)
    for i in range(4):
        partner = (i + 1) % 4
        assert torch.all(mixed[i, :, mask[i]] == partner) and torch.all(mixed[i, :, ~mask[i]] == i)
        assert torch.equal(mixed_lab[i] == partner, mask[i])
    assert mask.float().mean().item() == pytest.approx(0.5, abs=0.08)  # the box covers half of the image
    boxes = cutmix_boxes(64, 20, 30, generator=g)
    assert (boxes[:, 3] - boxes[:, 2] >= 15).all() and (boxes[:, 1] <= 20).all() and (boxes[:, 3] <= 30).all()
    out, none = random_cutmix(images, prob=0.0, generator=g)
    assert none is None and out[0] is images
    assert apply_cutmix(cutmix_mask(boxes[:4], 20, 30), labels)[0].dtype == torch.long


def test_u2pl_requires_repr_head():
    with pytest.raises(ValueError, match="with_repr"):
        U2PL(decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8, low_level_channels=4),
             backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", pretrained=False))


def test_u2pl_warmup_is_supervised_only():
    model = make_model(U2PL).train()  # sup_only_epochs=1, 2 iterations per epoch
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=0)
    assert set(k for k in losses if k.startswith("loss")) == {"loss_sup"}


def _bn_stats(net: torch.nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var"))]


def test_u2pl_warmup_runs_the_teacher_in_train_mode_for_its_bn_statistics():
    """train_semi.py: during the warm-up `model_teacher.train(); model_teacher(image_l)` at every step."""
    model = make_model(U2PL).train()  # sup_only_epochs=1
    params, stats = [p.clone() for p in model.teacher.parameters()], _bn_stats(model.teacher)
    model.compute_losses(model.preprocess_batch(make_batch()), iteration=0)
    assert all(torch.equal(a, b) for a, b in zip(params, model.teacher.parameters()))  # parameters untouched
    assert any(not torch.equal(a, b) for a, b in zip(stats, _bn_stats(model.teacher)))  # BN statistics follow
    assert not model.teacher.training
    off = make_model(U2PL, warmup_teacher_pass=False).train()
    stats = _bn_stats(off.teacher)
    off.compute_losses(off.preprocess_batch(make_batch()), iteration=0)
    assert all(torch.equal(a, b) for a, b in zip(stats, _bn_stats(off.teacher)))


def test_u2pl_train_step_decreases_loss_and_updates_queues():
    model = make_model(U2PL, sup_only_epochs=0, max_epochs=10, cutmix_prob=1.0,
                       contrastive=dict(num_queries=8, num_negatives=16, queue_size=40, queue_size_bg=50)).train()
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.02, momentum=0.9))
    data = make_batch()
    totals = []
    for it in range(6):
        log = model.train_step_at(data, optim, iteration=it)
        assert {"loss_sup", "loss_unsup", "loss_contra", "alpha_t", "unsup_kept"} <= set(log)
        assert all(torch.isfinite(v).all() for v in log.values())
        totals.append(log["loss"].item())
    assert log["loss_contra"] > 0
    assert log["alpha_t"] == pytest.approx(20.0 * (1 - 2 / 10))  # epoch 2 of 10 (2 iterations per epoch)
    assert min(totals[-2:]) < totals[0], totals
    lengths = [model.contrastive.queue(c).shape[0] for c in range(3)]
    assert sum(lengths) > 0 and lengths[0] <= 50 and max(lengths[1:]) <= 40
    # queues are buffers: they round-trip through a state dict, whatever their length
    fresh = make_model(U2PL, contrastive=dict(queue_size=40, queue_size_bg=50))
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.contrastive.queue(0), model.contrastive.queue(0))
