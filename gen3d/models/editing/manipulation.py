"""Latent editing along a direction and a locality measure (ReSeFa, Zhu et al., ICML'22, arXiv 2202.09649).

Follows the official ``manipulate.py`` and ``utils/custom_utils.py:linear_interpolate`` (zhujiapeng/resefa@973889c):
the ``ws`` are truncated to ``w_avg + psi * (w - w_avg)`` on the first ``trunc_layers`` (0.7, 8), then
``w' = w + alpha * n`` on the manipulated layers only (default 4-7), ``alpha`` in ``linspace(-10, 10, 7)``, and
synthesised with ``noise_mode="const"``.

The locality ratio (ours, for tests and benchmarks; the paper reports user studies and region-wise scores): the mean
``|x(w + alpha n) - x(w)|`` over the pixel-elements inside the region divided by that outside it, per latent,
averaged over the latents. A value above 1 means the edit concentrates in the region.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

MANI_LAYERS = (4, 5, 6, 7)  # manipulate.py --mani_layers 4,5,6,7
START, END, STEPS = -10.0, 10.0, 7  # --start_distance, --end_distance, --step
TRUNC_PSI, TRUNC_LAYERS = 0.7, 8  # --trunc_psi, --trunc_layers
SEED = 4  # --seed


def _layer_index(layers: Sequence[int] | None, num_ws: int) -> list[int]:
    if layers is None:
        return list(range(num_ws))
    out = [int(v) for v in layers]
    if not out or any(not 0 <= v < num_ws for v in out) or len(set(out)) != len(out):
        raise ValueError(f"layers must be distinct ints in [0, {num_ws}), got {list(layers)!r}")
    return out


def truncate_ws(ws: Tensor, w_avg: Tensor, psi: float = TRUNC_PSI, cutoff: int = TRUNC_LAYERS) -> Tensor:
    """Truncation trick on the first ``cutoff`` layers.

    Args:
        ws: ``(N, num_ws, d)``.
        w_avg: ``(d,)``.
        psi: Strength (1: none).
        cutoff: Layers ``0 .. cutoff - 1`` are truncated.

    Returns:
        ``(N, num_ws, d)``, a new tensor.
    """
    ws = ws.clone()
    if psi != 1 and cutoff > 0:
        ws[:, :cutoff] = w_avg.to(ws).lerp(ws[:, :cutoff], psi)
    return ws


def sample_ws(generator: nn.Module, num: int, seed: int = SEED, psi: float = TRUNC_PSI,
              cutoff: int = TRUNC_LAYERS) -> Tensor:
    """Latents of the official manipulation: ``np.random.seed(seed); randn(num, z_dim)``, mapped and truncated.

    Args:
        generator: A StyleGAN2 generator (``mapping`` with ``w_avg``, ``z_dim``).
        num: Number of latents.
        seed: NumPy seed.
        psi: Truncation strength.
        cutoff: Truncated layers.

    Returns:
        ``(num, num_ws, w_dim)``.
    """
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, generator.z_dim).astype(np.float32))
    with torch.no_grad():
        ws = generator.mapping(z.to(generator.mapping.w_avg.device), None)
    return truncate_ws(ws, generator.mapping.w_avg, psi, cutoff)


def edit_ws(ws: Tensor, direction: Tensor | np.ndarray, alphas: Sequence[float] | Tensor,
            layers: Sequence[int] | None = MANI_LAYERS) -> Tensor:
    """``linear_interpolate``: ``w + alpha * n`` on the selected layers, the other layers unchanged.

    Args:
        ws: ``(N, num_ws, d)``.
        direction: ``(d,)``.
        alphas: ``(A,)`` edit strengths.
        layers: Indices into ``ws`` to edit; None: all.

    Returns:
        ``(N, A, num_ws, d)``.
    """
    if ws.ndim != 3:
        raise ValueError(f"ws must be (N, num_ws, d), got {tuple(ws.shape)}")
    n = torch.as_tensor(direction).to(ws).reshape(-1)
    if n.shape[0] != ws.shape[-1]:
        raise ValueError(f"direction has {n.shape[0]} entries, ws have w_dim {ws.shape[-1]}")
    alphas = torch.as_tensor(alphas).to(ws).reshape(-1)
    select = torch.zeros(ws.shape[1], dtype=ws.dtype, device=ws.device)
    select[_layer_index(layers, ws.shape[1])] = 1
    delta = alphas.reshape(1, -1, 1, 1) * select.reshape(1, 1, -1, 1) * n.reshape(1, 1, 1, -1)
    return ws.unsqueeze(1) + delta


def edit_grid(generator: nn.Module, ws: Tensor, direction: Tensor | np.ndarray,
              layers: Sequence[int] | None = MANI_LAYERS, start: float = START, end: float = END,
              steps: int = STEPS, noise_mode: str = "const") -> Tensor:
    """Images of an edit sweep (the rows of the official HTML page, without the original column).

    Args:
        generator: A StyleGAN2 generator.
        ws: ``(N, num_ws, d)``.
        direction: ``(d,)``.
        layers: Edited layers.
        start: First ``alpha``.
        end: Last ``alpha``.
        steps: Number of ``alpha`` values (``linspace(start, end, steps)``).
        noise_mode: Synthesis noise.

    Returns:
        ``(N, steps, C, R, R)``.
    """
    codes = edit_ws(ws, direction, torch.linspace(start, end, steps), layers)
    with torch.no_grad():
        img = generator.synthesis(codes.flatten(0, 1), noise_mode=noise_mode)
    return img.reshape(*codes.shape[:2], *img.shape[1:])


def locality_ratio(generator: nn.Module, ws: Tensor, direction: Tensor | np.ndarray, mask: Tensor,
                   alpha: float = 1.0, layers: Sequence[int] | None = None, noise_mode: str = "const",
                   per_latent: bool = False) -> float | Tensor:
    """Mean ``|delta x|`` inside the region over mean ``|delta x|`` outside, averaged over latents.

    Args:
        generator: A StyleGAN2 generator (``synthesis``).
        ws: ``(N, num_ws, d)`` evaluation latents (not those the directions were computed from).
        direction: ``(d,)``.
        mask: ``(R, R)`` bool region.
        alpha: Edit strength.
        layers: Edited layers; None: all (the layers the ReSeFa Jacobian is taken over).
        noise_mode: Synthesis noise.
        per_latent: Return the ``(N,)`` ratios instead of their mean.

    Returns:
        The mean ratio, or ``(N,)`` ratios.
    """
    codes = edit_ws(ws, direction, [0.0, alpha], layers)
    with torch.no_grad():
        img = generator.synthesis(codes.flatten(0, 1), noise_mode=noise_mode)
    img = img.reshape(*codes.shape[:2], *img.shape[1:])
    return image_locality(img[:, 0], img[:, 1], mask, per_latent)


def image_locality(before: Tensor, after: Tensor, mask: Tensor, per_latent: bool = False) -> float | Tensor:
    """Locality ratio of image pairs.

    Args:
        before: ``(N, C, H, W)``.
        after: ``(N, C, H, W)``.
        mask: ``(H, W)`` bool region.
        per_latent: Return ``(N,)`` ratios instead of their mean.

    Returns:
        The mean ratio, or ``(N,)`` ratios.
    """
    if before.shape != after.shape or before.ndim != 4 or tuple(mask.shape) != tuple(before.shape[-2:]):
        raise ValueError(f"expected two (N, C, H, W) images and an (H, W) mask, got {tuple(before.shape)}, "
                         f"{tuple(after.shape)}, {tuple(mask.shape)}")
    diff = (after - before).abs().double()
    mask = mask.to(diff.device).bool()
    inside = diff[:, :, mask].flatten(1).mean(dim=1)
    outside = diff[:, :, ~mask].flatten(1).mean(dim=1)
    ratio = inside / outside.clamp_min(torch.finfo(torch.float64).tiny)
    return ratio.cpu() if per_latent else float(ratio.mean())
