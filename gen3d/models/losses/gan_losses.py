"""GAN losses shared by every GAN on the spine: adversarial terms, R1 and path-length regularisers.

* Non-saturating logistic loss (Goodfellow et al. 2014, arXiv 1406.2661 Sec. 3; StyleGAN2's ``loss.py``):
  G minimises ``softplus(-D(G(z)))``, D minimises ``softplus(D(G(z))) + softplus(-D(x))``.
* Hinge loss (Lim & Ye 2017, arXiv 1705.02894; used by BigGAN): G ``-D(G(z))``, D ``relu(1 - D(x)) + relu(1 +
  D(G(z)))``.
* R1 (Mescheder et al. 2018, arXiv 1801.04406 Eq. 9): ``|grad_x D(x)|^2`` on reals, weighted ``gamma / 2``.
* Path length (StyleGAN2, arXiv 1912.04958 Sec. 3.2): ``(|J_w^T y| - a)^2`` with ``y ~ N(0, I) / sqrt(H W)`` and ``a``
  a running mean of the lengths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from torch import Tensor

__all__ = ["ADVERSARIAL_LOSSES", "d_hinge_loss", "d_logistic_loss", "g_hinge_loss", "g_nonsaturating_loss",
           "path_length_penalty", "r1_penalty"]


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """``mean softplus(-D(G(z)))``; ``fake_logits`` ``[N, 1]`` -> scalar."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``mean softplus(D(G(z))) + mean softplus(-D(x))``; logits ``[N, 1]`` each -> scalar."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_hinge_loss(fake_logits: Tensor) -> Tensor:
    """``-mean D(G(z))``; ``fake_logits`` ``[N, 1]`` -> scalar."""
    return -fake_logits.mean()


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``; logits ``[N, 1]`` each -> scalar."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


#: ``name -> (generator loss(fake_logits), discriminator loss(real_logits, fake_logits))``.
ADVERSARIAL_LOSSES: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor, Tensor], Tensor]]] = {
    "logistic": (g_nonsaturating_loss, d_logistic_loss),
    "hinge": (g_hinge_loss, d_hinge_loss),
}


def r1_penalty(disc: Callable[..., Tensor], real: Tensor, *args: object) -> Tensor:
    """``|grad_x D(x)|^2`` per real sample, with a graph for the second-order backward.

    Args:
        disc: ``disc(x, *args) -> logits [N, 1]``.
        real: Reals ``[N, ...]`` (RGB, RGB-D, ...): the gradient is summed over every non-batch dimension.
        *args: Further inputs of ``disc`` (labels), not differentiated.

    Returns:
        ``[N]``.
    """
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(real, *args).sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1)


def path_length_penalty(img: Tensor, ws: Tensor, pl_mean: Tensor, decay: float) -> tuple[Tensor, Tensor]:
    """Path-length penalty of images ``img [N, C, H, W]`` made from ``ws [N, num_ws, w_dim]``; updates ``pl_mean``.

    Args:
        img: Generated images, differentiable w.r.t. ``ws``.
        ws: The latents they came from.
        pl_mean: Scalar buffer, the running target ``a``; set in place to ``lerp(a, mean length, decay)`` with the
            mean length averaged over ranks.
        decay: EMA decay of ``a``.

    Returns:
        ``(mean (|J_w^T y| - a)^2, mean |J_w^T y|)`` (the second detached).
    """
    noise = torch.randn_like(img) / (img.shape[2] * img.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean_len = lengths.detach().mean()
    if get_world_size() > 1:
        all_reduce(mean_len, op="mean")
    pl_mean.copy_(pl_mean.lerp(mean_len, decay))
    return (lengths - pl_mean).square().mean(), mean_len
