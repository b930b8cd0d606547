"""U2PL losses: alpha schedule, entropy filter, contrastive loss, memory queues and the paper's negatives."""

import math

import pytest
import torch

from gen3d.models.losses import U2PLContrastiveLoss, adaptive_alpha, entropy_map, entropy_masks, pseudo_label_loss


def test_adaptive_alpha_schedule():
    assert adaptive_alpha(0, 80) == 20.0 and adaptive_alpha(40, 80) == 10.0 and adaptive_alpha(80, 80) == 0.0


def test_entropy_filter_keeps_expected_fraction():
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(2, 4, 20, 25, generator=g).softmax(dim=1)
    entropy = entropy_map(prob)
    assert entropy.shape == (2, 20, 25) and (entropy >= 0).all()
    pseudo = prob.argmax(dim=1)
    pseudo[0, :5] = 255  # ignored pixels do not count
    logits = torch.randn(2, 4, 20, 25, generator=g, requires_grad=True)
    loss, kept = pseudo_label_loss(logits, pseudo, entropy, alpha=20.0)
    assert kept.item() == pytest.approx(0.8, abs=0.01)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None
    reliable, unreliable = entropy_masks(entropy, pseudo != 255, 20.0)
    n_valid = (pseudo != 255).sum().item()
    assert reliable.sum().item() / n_valid == pytest.approx(0.2, abs=0.01)
    assert unreliable.sum().item() / n_valid == pytest.approx(0.2, abs=0.01)
    assert not (reliable & unreliable).any() and not reliable[0, :5].any()


def _hand_batch(num_classes: int = 4, dim: int = 8) -> tuple:
    g = torch.Generator().manual_seed(1)
    label = torch.tensor([[0, 1], [2, 3]]).repeat(2, 3, 3)  # (2, 6, 6); image 0 labeled, image 1 unlabeled
    rep_s = torch.randn(2, dim, 6, 6, generator=g, requires_grad=True)
    rep_t = torch.randn(2, dim, 6, 6, generator=g)
    logits = torch.randn(2, num_classes, 6, 6, generator=g) + 4 * torch.nn.functional.one_hot(label, num_classes) \
        .permute(0, 3, 1, 2)
    valid = torch.ones(2, 6, 6, dtype=torch.bool)
    reliable, unreliable = valid.clone(), valid.clone()
    reliable[1, ::2], unreliable[1, 1::2] = False, False
    return rep_s, rep_t, logits.softmax(dim=1), label, reliable, unreliable, torch.tensor([True, False])


def test_contrastive_loss_finite_positive_and_queues_bounded():
    loss_fn = U2PLContrastiveLoss(num_classes=4, feat_dim=8, queue_size=10, queue_size_bg=12, num_queries=5,
                                  num_negatives=7, low_rank=1, high_rank=3)
    inputs = _hand_batch()
    for _ in range(3):
        loss = loss_fn(*inputs)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert inputs[0].grad is not None and inputs[0].grad.abs().sum() > 0
    lengths = [loss_fn.queue(c).shape[0] for c in range(4)]
    assert lengths[0] == 12 and all(0 < n <= 10 for n in lengths[1:])
    assert "queue_0" in loss_fn.state_dict()


def test_negatives_follow_the_paper():
    """Labeled negatives: y != c and rank(c) <= r_l (the official code demands y == c, so it never finds any)."""
    loss_fn = U2PLContrastiveLoss(num_classes=3, feat_dim=4, low_rank=1, high_rank=3)
    prob = torch.tensor([0.6, 0.3, 0.1]).view(1, 3, 1, 1).repeat(2, 1, 1, 2)  # ranks: c0 -> 1, c1 -> 2, c2 -> 3
    label = torch.tensor([[[1, 0]], [[0, 0]]])  # labeled image 0: pixel 0 mislabeled vs the teacher's top class
    unreliable = torch.tensor([[[True, True]], [[True, False]]])
    neg = loss_fn.negative_masks(prob, label, unreliable, torch.tensor([True, False]))
    # labeled pixel with y=1, teacher's top class 0: class 0 gets a (hard) negative; its own class never does
    assert neg[0, :, 0, 0].tolist() == [True, False, False]
    assert neg[0, :, 0, 1].tolist() == [False, False, False]  # y = top class: no labeled negative
    # unlabeled unreliable pixel: classes with r_l < rank <= r_h (classes 1 and 2); reliable pixel: none
    assert neg[1, :, 0, 0].tolist() == [False, True, True]
    assert not neg[1, :, 0, 1].any()


def test_contrastive_anchors_use_their_own_class():
    """Anchors of class c come from class-c pixels (the official code indexes them by list position)."""
    loss_fn = U2PLContrastiveLoss(num_classes=3, feat_dim=2, num_queries=4, num_negatives=4, temperature=0.1)
    rep = torch.zeros(1, 2, 1, 2)
    rep[0, :, 0, 0] = torch.tensor([1.0, 0.0])  # class 2 pixel, aligned with its prototype
    rep[0, :, 0, 1] = torch.tensor([0.0, 1.0])  # class 1 pixel
    prob = torch.tensor([[0.05, 0.05, 0.9], [0.05, 0.9, 0.05]]).T.reshape(1, 3, 1, 2)
    label = torch.tensor([[[2, 1]]])
    ones = torch.ones(1, 1, 2, dtype=torch.bool)
    loss_fn.enqueue(2, torch.tensor([[0.0, 1.0]]))
    loss = loss_fn(rep, rep, prob, label, ones, ones, torch.tensor([True]))
    # class 2 anchors equal the class 2 prototype: cos 1 vs the negative's cos 0 -> a small loss
    assert loss.item() < 1e-3


def test_pseudo_label_loss_normalisation_matches_official_by_hand():
    """compute_unsupervised_loss: mean CE over the kept pixels x B*H*W / #kept (a sum over kept / #kept^2 x BHW)."""
    logits = torch.tensor([[[[2.0, 0.0, 1.0, -1.0]], [[0.0, 1.0, 3.0, 0.5]]]])  # (1, 2, 1, 4)
    pseudo = torch.tensor([[[0, 0, 1, 1]]])
    entropy = torch.tensor([[[0.1, 0.2, 0.3, 0.9]]])
    # np.percentile([.1, .2, .3, .9], 100 - 25) = 0.3 + 0.25 * 0.6 = 0.45 -> pixel 3 (H = 0.9) is dropped
    loss, kept = pseudo_label_loss(logits, pseudo, entropy, alpha=25.0)
    ce = [math.log(1 + math.exp(0.0 - 2.0)), math.log(1 + math.exp(1.0 - 0.0)), math.log(1 + math.exp(1.0 - 3.0))]
    assert loss.item() == pytest.approx(4 / 3 * sum(ce) / 3, rel=1e-6)
    assert kept.item() == pytest.approx(0.75)
    full, _ = pseudo_label_loss(logits, pseudo, entropy, alpha=0.0)  # nothing dropped: weight 1, the plain mean CE
    ce.append(math.log(1 + math.exp(-1.0 - 0.5)))
    assert full.item() == pytest.approx(sum(ce) / 4, rel=1e-6)


def test_contrastive_loss_is_normalised_by_classes_with_reliable_pixels():
    """Official mean: sum over classes with anchors and negatives / #classes with reliable pixels; 0 for <= 1 class."""
    tau, n_neg = 0.5, 4
    loss_fn = U2PLContrastiveLoss(num_classes=3, feat_dim=2, num_queries=3, num_negatives=n_neg, temperature=tau,
                                  low_rank=1, high_rank=1)  # r_l = 1: no labeled negatives, only the queued one
    rep = torch.zeros(1, 2, 1, 2)
    rep[0, :, 0, 0] = torch.tensor([1.0, 0.0])  # class 2 pixel == its prototype
    rep[0, :, 0, 1] = torch.tensor([0.0, 1.0])  # class 1 pixel: reliable, but class 1 has no negatives
    prob = torch.tensor([[0.05, 0.05, 0.9], [0.05, 0.9, 0.05]]).T.reshape(1, 3, 1, 2)
    ones = torch.ones(1, 1, 2, dtype=torch.bool)
    loss_fn.enqueue(2, torch.tensor([[0.0, 1.0]]))  # orthogonal negative: cos 0
    loss = loss_fn(rep, rep, prob, torch.tensor([[[2, 1]]]), ones, ones, torch.tensor([True]))
    per_class = math.log(1 + n_neg * math.exp(-1 / tau))  # -log(e^{1/tau} / (e^{1/tau} + N e^0))
    assert loss.item() == pytest.approx(per_class / 2, rel=1e-5)  # class 1 counts in the denominator
    single = loss_fn(rep, rep, prob, torch.tensor([[[2, 2]]]), ones, ones, torch.tensor([True]))
    assert single.item() == 0.0  # a single class with reliable pixels: no contrastive loss
