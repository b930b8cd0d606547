"""gen3d.models.losses.gan_losses against closed forms on tiny inputs."""

import math

import pytest
import torch
from torch import nn

from gen3d.models.losses.gan_losses import (
    ADVERSARIAL_LOSSES,
    d_hinge_loss,
    d_logistic_loss,
    g_hinge_loss,
    g_nonsaturating_loss,
    path_length_penalty,
    r1_penalty,
)


def test_adversarial_losses_closed_form():
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-1.0], [0.5]])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert g_nonsaturating_loss(fake).item() == pytest.approx((sp(1.0) + sp(-0.5)) / 2)
    assert d_logistic_loss(real, fake).item() == pytest.approx((sp(-1.0) + sp(0.5)) / 2 + (sp(-2.0) + sp(0.0)) / 2)
    assert g_hinge_loss(fake).item() == pytest.approx(0.25)
    assert d_hinge_loss(real, fake).item() == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2)
    assert ADVERSARIAL_LOSSES["logistic"] == (g_nonsaturating_loss, d_logistic_loss)
    assert set(ADVERSARIAL_LOSSES) == {"logistic", "hinge"}


def test_r1_of_a_linear_discriminator_is_its_squared_weight_norm():
    disc = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 1))
    real = torch.randn(4, 2, 3, 3)  # any number of non-batch dims (RGB-D reals included)
    r1 = r1_penalty(lambda x: disc(x), real)
    assert r1.shape == (4,) and torch.allclose(r1, disc[1].weight.square().sum().expand(4))
    r1.mean().backward()  # second-order: d/dW |W|^2 = 2W
    assert torch.allclose(disc[1].weight.grad, 2 * disc[1].weight)


def test_path_length_of_a_linear_synthesis():
    """img = ws[:, 0] @ A reshaped: |J^T y| is |A y| with y ~ N(0, 1 / (H W)); the target follows with decay."""
    torch.manual_seed(0)
    a = torch.randn(5, 2 * 4 * 4, requires_grad=True)
    ws = torch.randn(3, 1, 5, requires_grad=True)
    img = (ws[:, 0] @ a).view(3, 2, 4, 4)
    torch.manual_seed(1)
    y = torch.randn_like(img).flatten(1) / 4  # 1 / sqrt(H W)
    lengths = (y @ a.detach().T).square().sum(1).sqrt()
    pl_mean = torch.full((), 0.2)
    torch.manual_seed(1)
    penalty, mean_len = path_length_penalty(img, ws, pl_mean, decay=0.5)
    assert torch.allclose(mean_len, lengths.mean())
    assert torch.allclose(pl_mean, 0.5 * 0.2 + 0.5 * lengths.mean())
    assert torch.allclose(penalty, (lengths - pl_mean).square().mean())
    penalty.backward()  # differentiable w.r.t. the synthesis weights (the generator's regulariser step)
    assert a.grad is not None and a.grad.abs().sum() > 0
