"""Volume compositing (NeRF quadrature) with pi-GAN's density noise.

Official code: ``marcoamonteiro/pi-GAN:generators/volumetric_rendering.py:fancy_integration`` and the noise schedule
of ``train.py`` (``nerf_noise = max(0, 1 - step / 5000)``). With ``delta_i = t_{i+1} - t_i`` (the last one
:data:`DELTA_INF`) and ``alpha_i = 1 - exp(-delta_i * act(sigma_i + noise))``, ``act`` being ``relu`` (pi-GAN's
``clamp_mode='relu'``) or ``softplus``:

``w_i = alpha_i * T_i``, ``T_i = exp(-sum_{j<i} delta_j * act(sigma_j + noise_j))``; rgb ``= sum w_i c_i``,
depth ``= sum w_i t_i``, opacity ``= sum w_i``.

``T_i`` is computed as the exponential of an exclusive cumulative sum, which equals the official
``cumprod(1 - alpha + 1e-10)`` up to that 1e-10 and has an ONNX export (``cumprod`` has none).
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

DELTA_INF = 1e10  # length of the last interval (fancy_integration)
NOISE_FADE_STEPS = 5000  # train.py: density noise std fades from 1 to 0 over the first 5000 discriminator steps
CLAMP_MODES = ("relu", "softplus")


class IntegratorOutput(NamedTuple):
    """Composited values per ray.

    Attributes:
        rgb: Colour ``(B, R, 3)`` (the representer's range, [0, 1] for a sigmoid colour head).
        depth: ``sum w_i t_i`` ``(B, R)`` (not normalised by the opacity, as in pi-GAN).
        opacity: ``sum w_i`` ``(B, R)``.
        weights: Compositing weights ``(B, R, S)``.
    """

    rgb: Tensor
    depth: Tensor
    opacity: Tensor
    weights: Tensor


def noise_std_schedule(step: int, fade_steps: int = NOISE_FADE_STEPS, start: float = 1.0) -> float:
    """Density-noise std at a training step: ``start * max(0, 1 - step / fade_steps)``.

    Args:
        step: Training step (pi-GAN counts discriminator steps).
        fade_steps: Steps until the noise reaches zero.
        start: Std at step 0.

    Returns:
        The std, a Python float.
    """
    return start * max(0.0, 1.0 - step / fade_steps)


def composite(rgb: Tensor, sigma: Tensor, depths: Tensor, noise_std: float = 0.0, clamp_mode: str = "relu",
              delta_inf: float = DELTA_INF, white_back: bool = False, last_back: bool = False,
              generator: torch.Generator | None = None) -> IntegratorOutput:
    """Alpha-composite samples along rays.

    Args:
        rgb: Sample colours ``(B, R, S, 3)``.
        sigma: Raw densities ``(B, R, S, 1)`` or ``(B, R, S)``.
        depths: Sample depths ``(B, R, S)``, sorted.
        noise_std: Std of the Gaussian noise added to ``sigma`` before the activation; 0 is deterministic.
        clamp_mode: ``"relu"`` or ``"softplus"``.
        delta_inf: Length given to the last interval.
        white_back: Add ``1 - opacity`` to the colour (white background).
        last_back: Give the missing opacity to the last sample (pi-GAN ``last_back``), so opacity is 1.
        generator: Optional random generator for the noise.

    Returns:
        :class:`IntegratorOutput`.
    """
    if sigma.dim() == rgb.dim():
        sigma = sigma[..., 0]
    if clamp_mode not in CLAMP_MODES:
        raise ValueError(f"clamp_mode {clamp_mode!r} is not one of {CLAMP_MODES}")
    if noise_std > 0:
        noise = torch.randn(sigma.shape, generator=generator, device=sigma.device, dtype=sigma.dtype)
        sigma = sigma + noise * noise_std
    density = F.relu(sigma) if clamp_mode == "relu" else F.softplus(sigma)
    deltas = torch.cat([depths[..., 1:] - depths[..., :-1], torch.full_like(depths[..., :1], delta_inf)], -1)
    optical = density * deltas  # (B, R, S)
    alphas = 1 - torch.exp(-optical)
    excl = torch.cat([torch.zeros_like(optical[..., :1]), torch.cumsum(optical[..., :-1], -1)], -1)
    weights = alphas * torch.exp(-excl)
    if last_back:
        rest = 1 - weights.sum(-1, keepdim=True)
        weights = torch.cat([weights[..., :-1], weights[..., -1:] + rest], -1)
    opacity = weights.sum(-1)
    out_rgb = (weights[..., None] * rgb).sum(-2)
    if white_back:
        out_rgb = out_rgb + (1 - opacity)[..., None]
    return IntegratorOutput(out_rgb, (weights * depths).sum(-1), opacity, weights)
