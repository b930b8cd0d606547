"""DACS (DAFormer / FST UDA self-training): ClassMix, pseudo-weights, feature distance, EMA order, FST wrapping."""

import math

import pytest
import torch
from mmengine.optim import OptimWrapper

from gen3d.models.segmentors import DACS
from gen3d.models.segmentors import dacs as dacs_module
from gen3d.models.segmentors.classmix import (
    blur_kernel_size,
    choose_half_classes,
    class_mix_masks,
    color_jitter,
    mix,
    strong_transform,
)
from gen3d.models.segmentors.dacs import downscale_label_ratio, pseudo_weight_map, weighted_cross_entropy
from gen3d.registry import MODELS

from .test_teacher_student import SIZE, STUDENT, make_batch

FD = dict(imnet_feature_dist_lambda=0.005, imnet_feature_dist_classes=[1, 2], imnet_feature_dist_scale_min_ratio=0.75)
# DACS uses no representation head: switch it off so that every student parameter takes part in the losses.
DACS_STUDENT = {**STUDENT, "decode_head": {**STUDENT["decode_head"], "with_repr": False}}


def make_model(cls: type = DACS, **kwargs) -> DACS:
    torch.manual_seed(0)
    return cls(**DACS_STUDENT, **kwargs)


# ---------------------------------------------------------------------------------------------------- ClassMix
@pytest.mark.parametrize("values,expected", [([3], 1), ([0, 4], 1), ([0, 1, 255], 2), ([0, 1, 2, 5], 2),
                                             ([0, 1, 2, 3, 4], 3)])
def test_classmix_picks_ceil_half_of_the_present_classes(values, expected):
    label = torch.tensor(values * 3).view(3, len(values))
    seen = set()
    for seed in range(200):
        mask = class_mix_masks(label[None], torch.Generator().manual_seed(seed))[0]
        chosen = torch.unique(label[mask])
        assert chosen.numel() == expected  # int((n + n % 2) / 2), the ignore label counting as a value
        assert torch.equal(mask, torch.isin(label, chosen))  # every pixel of a chosen class, nothing else
        seen.add(tuple(chosen.tolist()))
    assert len(seen) == math.comb(len(values), expected)  # uniform draw: every subset shows up


def test_classmix_per_image_vs_official_batch_union():
    labels = torch.stack([torch.tensor([[0, 0], [1, 1]]), torch.tensor([[5, 6], [7, 8]])])
    for seed in range(20):
        per_image = class_mix_masks(labels, torch.Generator().manual_seed(seed))
        assert per_image.flatten(1).sum(1).tolist() == [2, 2]  # one of {0, 1}; two of {5, 6, 7, 8}
        union = choose_half_classes(labels, torch.Generator().manual_seed(seed))
        assert union.numel() == 3  # the official code draws ceil(6 / 2) from the whole source batch
    counts = {tuple(class_mix_masks(labels, torch.Generator().manual_seed(s), per_image=False).flatten(1).sum(1)
                    .tolist()) for s in range(40)}
    assert any(c[0] == 0 or c[0] == 4 for c in counts)  # chosen classes may be absent from / cover an image


def test_mix_image_label_weight_by_hand():
    y_s = torch.tensor([[[0, 1, 1], [2, 2, 0]]])
    x_s = torch.arange(6.0).view(1, 1, 2, 3).expand(1, 3, 2, 3)
    x_t = -torch.ones(1, 3, 2, 3)
    pseudo, weight = torch.full((1, 2, 3), 7), torch.full((1, 2, 3), 0.25)
    mask = y_s == 1  # chosen class {1}
    assert torch.equal(mix(mask, x_s, x_t)[0, 0], torch.tensor([[-1.0, 1.0, 2.0], [-1.0, -1.0, -1.0]]))
    assert torch.equal(mix(mask, y_s, pseudo), torch.tensor([[[7, 1, 1], [7, 7, 7]]]))
    assert torch.equal(mix(mask, torch.ones_like(weight), weight), torch.tensor([[[0.25, 1, 1], [0.25] * 3]]))
    with pytest.raises(ValueError):
        mix(mask, x_s, x_t[..., :2])


# ---------------------------------------------------------------------------------------------------- augmentation
def test_blur_kernel_size_is_the_official_formula():
    assert [blur_kernel_size(n) for n in (512, 1024, 64, 50, 41)] == [51, 103, 7, 5, 5]


def test_strong_transform_probabilities_and_range():
    g = torch.Generator().manual_seed(0)
    mean, std = torch.tensor([120.0, 110.0, 100.0]), torch.tensor([60.0, 55.0, 50.0])
    raw = torch.randint(0, 256, (2, 3, 20, 24), generator=g).float()
    x = (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    x0 = x.clone()
    same, flags = strong_transform(x, mean, std, g, jitter_probability=1.0, blur=False)  # u <= 1: jitter skipped
    assert torch.equal(same, x) and flags == {"jitter": False, "blur": False}
    out, flags = strong_transform(x, mean, std, torch.Generator().manual_seed(3), jitter_probability=0.0, blur=False)
    assert flags["jitter"] and not torch.allclose(out, x)
    unit = out * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)
    assert unit.min() >= -1e-3 and unit.max() <= 255 + 1e-3  # jitter works on [0, 1] images, clamped
    again, _ = strong_transform(x, mean, std, torch.Generator().manual_seed(3), jitter_probability=0.0, blur=False)
    assert torch.equal(again, out) and torch.equal(x, x0)  # seeded and out-of-place
    blur_flags = [strong_transform(x, mean, std, g, jitter_probability=1.0)[1]["blur"] for _ in range(200)]
    assert 60 < sum(blur_flags) < 140  # blur when a per-batch draw exceeds 0.5


def test_color_jitter_identity_at_zero_strength():
    img = torch.rand(3, 9, 11, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(color_jitter(img, 0.0), img, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------------- pseudo-weight
def test_pseudo_weight_is_the_confident_fraction_with_ignored_rows():
    conf = torch.full((2, 10, 4), 0.5)
    conf[0, 3:6] = 0.968  # 12 of 40 pixels, ">=" as the official ``ge``
    weight = pseudo_weight_map(conf, 0.968, ignore_top=2, ignore_bottom=3)
    assert torch.allclose(weight[0, 2:7], torch.full((5, 4), 0.3)) and (weight[1] == 0).all()
    assert (weight[:, :2] == 0).all() and (weight[:, -3:] == 0).all()
    batch = pseudo_weight_map(conf, 0.968, per_image=False)  # official: one fraction over the batch
    assert torch.allclose(batch, torch.full_like(batch, 12 / 80))


def test_compute_losses_mixes_the_pseudo_weight(monkeypatch):
    seen, masks = [], []
    real_ce, real_masks = dacs_module.weighted_cross_entropy, dacs_module.class_mix_masks
    monkeypatch.setattr(dacs_module, "weighted_cross_entropy", lambda *a: seen.append(a) or real_ce(*a))
    monkeypatch.setattr(dacs_module, "class_mix_masks", lambda *a, **k: masks.append(real_masks(*a, **k)) or masks[-1])
    for thresh, q in ((1.1, 0.0), (0.0, 1.0)):
        seen.clear()
        masks.clear()
        model = make_model(DACS, pseudo_threshold=thresh, pseudo_weight_ignore_top=5, pseudo_weight_ignore_bottom=9)
        batch = model.train().preprocess_batch(make_batch())
        losses = model.compute_losses(batch, iteration=3)
        (_, _, w_src, _), (_, y_m, w_m, _) = seen
        mask, gt = masks[0], batch["labeled"]["gt"]
        assert w_src is None and losses["pseudo_weight"] == q and 0 < mask.float().mean() < 1
        target_w = torch.full_like(w_m, q)
        target_w[:, :5] = target_w[:, -9:] = 0  # ignored rows of the target crop
        torch.testing.assert_close(w_m, torch.where(mask, torch.ones_like(w_m), target_w))  # source pixels: 1
        assert torch.equal(y_m[mask], gt[mask])
        torch.testing.assert_close(losses["mix_src_frac"], mask.float().mean())


# ---------------------------------------------------------------------------------------------------- full step
def test_compute_losses_finite_and_gradients_only_on_the_student():
    model = make_model(DACS, pseudo_weight_ignore_top=4, pseudo_weight_ignore_bottom=8, **FD).train()
    batch = model.preprocess_batch(make_batch())
    before = {k: v.clone() for k, v in batch["unlabeled"].items() if torch.is_tensor(v)}
    losses = model.compute_losses(batch, iteration=1)
    assert {"loss_src", "loss_mix", "loss_fd", "acc_seg", "mix_acc_seg", "pseudo_weight"} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = [p.grad for p in model.student.parameters()]
    assert all(g is not None for g in grads) and all(g.abs().sum() > 0 for g in grads[:3])
    frozen = [*model.teacher.parameters(), *model.imnet_backbone.parameters()]
    assert all(p.grad is None and not p.requires_grad for p in frozen)
    assert all(torch.equal(batch["unlabeled"][k], v) for k, v in before.items())  # FST reuses the batch
    assert not model.teacher.training and not model.imnet_backbone.training


def test_teacher_runs_in_train_mode_without_dropout():
    model = make_model(DACS).train()
    stats = [b.clone() for n, b in model.teacher.named_buffers() if n.endswith("running_mean")]
    x = model.preprocess_batch(make_batch())["unlabeled"]["inputs"]
    p1, c1 = model.pseudo_label(x)
    p2, c2 = model.pseudo_label(x)
    assert torch.equal(c1, c2) and torch.equal(p1, p2)  # dropout off -> deterministic
    after = [b for n, b in model.teacher.named_buffers() if n.endswith("running_mean")]
    assert any(not torch.equal(a, b) for a, b in zip(stats, after))  # BN in train mode (official)
    assert not model.teacher.training and p1.shape == (2, SIZE, SIZE)


def test_ema_precedes_the_losses():
    model = make_model(DACS).train()
    assert [model.momentum_at(t) for t in (0, 1, 3)] == [0.0, 0.5, 0.75] and model.momentum_at(10**6) == 0.999
    ow = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.1))
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(0.01)
    s0 = [p.clone() for p in model.student.parameters()]
    model.train_step_at(make_batch(), ow, 0)  # t = 0: teacher <- student, before the step
    for t, s in zip(model.teacher.parameters(), s0):
        assert torch.equal(t, s)
    s1, t1 = [p.clone() for p in model.student.parameters()], [p.clone() for p in model.teacher.parameters()]
    log = model.train_step_at(make_batch(seed=1), ow, 1)
    assert log["ema_momentum"] == 0.5 and torch.isfinite(log["loss"])
    for t, t_old, s in zip(model.teacher.parameters(), t1, s1):
        torch.testing.assert_close(t, 0.5 * t_old + 0.5 * s)  # absorbed the student of t - 1, not of t


# ---------------------------------------------------------------------------------------------------- FD
def test_downscale_label_ratio_by_hand():
    label = torch.tensor([[1, 1, 2, 3], [1, 0, 2, 2], [255, 255, 4, 4], [255, 1, 4, 4]])[None]
    out = downscale_label_ratio(label, 2, 0.75, num_classes=5)
    assert out.tolist() == [[[1, 2], [255, 4]]]
    assert downscale_label_ratio(label, 2, None, num_classes=5).tolist() == [[[1, 2], [255, 4]]]
    assert downscale_label_ratio(label, 2, 0.8, num_classes=5).tolist() == [[[255, 255], [255, 4]]]


def test_feature_distance_zero_for_the_copy_then_positive():
    model = make_model(DACS, **FD).eval()  # eval: both backbones use their running BN statistics
    batch = model.preprocess_batch(make_batch())
    x, y = batch["labeled"]["inputs"], batch["labeled"]["gt"]
    assert model.feature_distance(x, y, model.student.extract_feat(x)[-1]) == 0
    imnet = [p.clone() for p in model.imnet_backbone.parameters()]
    with torch.no_grad():
        next(model.student.backbone.parameters()).add_(0.05)
    fd = model.feature_distance(x, y, model.student.extract_feat(x)[-1])
    assert fd > 0 and torch.isfinite(fd)
    assert all(torch.equal(a, b) for a, b in zip(imnet, model.imnet_backbone.parameters()))  # frozen copy
    none = model.feature_distance(x, torch.zeros_like(y), model.student.extract_feat(x)[-1])  # no thing pixels
    assert none == 0 and none.requires_grad
    assert make_model(DACS).imnet_backbone is None  # off by default, no copy


def test_weighted_cross_entropy_averages_over_all_pixels():
    logits, target = torch.zeros(1, 2, 1, 4), torch.tensor([[[0, 1, 255, 255]]])
    torch.testing.assert_close(weighted_cross_entropy(logits, target), torch.tensor(math.log(2) / 2))
    w = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
    torch.testing.assert_close(weighted_cross_entropy(logits, target, w), torch.tensor(math.log(2) / 4))


# ---------------------------------------------------------------------------------------------------- FST
@pytest.mark.parametrize("mode", ["D", "W"])
def test_fst_wraps_dacs(mode):
    torch.manual_seed(0)
    method = dict(type="DACS", **DACS_STUDENT, pseudo_weight_ignore_top=2, pseudo_weight_ignore_bottom=4, **FD)
    fst = MODELS.build(dict(type="FST", mode=mode, k=2, ema_alpha=0.999, ema_after_real_step=mode == "W",
                            same_batch=mode == "D", method=method)).train()
    ow = OptimWrapper(torch.optim.AdamW(fst.method.student.parameters(), lr=1e-4))
    for t in range(2):  # t = 0: plain step (teacher <- student); t = 1: virtual steps + real step
        data = make_batch(seed=t)
        if mode == "W":
            data["future"] = [make_batch(seed=10 + i) for i in range(2)]
        log = fst.train_step_at(data, ow, t)
        assert torch.isfinite(log["loss"]) and torch.isfinite(log["loss_mix"])
    assert {"fst_v0_loss", "fst_v1_loss", "loss_fd"} <= set(log)
    assert all(p.grad is None for p in [*fst.method.teacher.parameters(), *fst.method.imnet_backbone.parameters()])
    with torch.no_grad():
        assert fst.eval()(torch.randn(1, 3, SIZE, SIZE)).shape == (1, 3, SIZE, SIZE)
    assert fst.method.eval_net is fst.method.student  # official: the student is evaluated
