"""Point sampling along rays: stratified depths and hierarchical (inverse-CDF) resampling, as in pi-GAN.

Official code: ``marcoamonteiro/pi-GAN:generators/volumetric_rendering.py`` (``get_initial_rays_trig``,
``perturb_points``, ``sample_pdf``) and ``generators/generators.py`` (``ImplicitGenerator3d.forward``: fine depths from
the coarse weights of the interior samples, as many fine as coarse samples, both sets merged by depth).

The inverse CDF counts ``cdf < u`` instead of calling ``torch.searchsorted`` (same indices as its default
``right=False``), and masked divisions use ``torch.where``, so the sampler exports to ONNX.
"""

import torch
from torch import Tensor

HIERARCHICAL_WEIGHT_EPS = 1e-5  # added to the coarse weights before resampling (generators.py)
PDF_EPS = 1e-5  # sample_pdf's eps: added to the weights, and the floor of a bin's cdf step


def stratified_depths(batch_size: int, num_rays: int, num_steps: int, near: float, far: float, jitter: bool = False,
                      generator: torch.Generator | None = None, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """Evenly spaced depths between ``near`` and ``far``, optionally jittered.

    The jitter of pi-GAN's ``perturb_points``: each depth moves by ``U(-0.5, 0.5)`` times the spacing, independently
    per ray and sample.

    Args:
        batch_size: ``B``.
        num_rays: ``R``.
        num_steps: ``S`` (at least 2).
        near: First depth.
        far: Last depth.
        jitter: Add the random offsets.
        generator: Optional random generator for the jitter.
        device: Device of the result.
        dtype: Dtype of the result.

    Returns:
        Depths ``(B, R, S)``, non-decreasing along ``S``.
    """
    t = torch.linspace(near, far, num_steps, device=device, dtype=dtype).expand(batch_size, num_rays, num_steps)
    if jitter:
        spacing = (far - near) / (num_steps - 1)
        t = t + (torch.rand(t.shape, generator=generator, device=device, dtype=dtype) - 0.5) * spacing
    return t


def points_along_rays(origins: Tensor, directions: Tensor, depths: Tensor) -> Tensor:
    """``o + t d`` for every ray and depth.

    Args:
        origins: Ray origins ``(B, R, 3)``.
        directions: Unit ray directions ``(B, R, 3)``.
        depths: Depths ``(B, R, S)``.

    Returns:
        Points ``(B, R, S, 3)``.
    """
    return origins[:, :, None] + directions[:, :, None] * depths[..., None]


def sample_pdf(bins: Tensor, weights: Tensor, num_samples: int, deterministic: bool = False,
               generator: torch.Generator | None = None, eps: float = PDF_EPS) -> Tensor:
    """Inverse-CDF samples of the piecewise-constant density with ``weights`` on the intervals between ``bins``.

    Args:
        bins: Interval edges ``(..., K + 1)``, non-decreasing.
        weights: Non-negative interval weights ``(..., K)``.
        num_samples: ``N`` samples per row.
        deterministic: Use ``u = linspace(0, 1, N)`` instead of ``U(0, 1)``.
        generator: Optional random generator for ``u``.
        eps: Added to the weights; steps of the cdf below it count as empty bins.

    Returns:
        Samples ``(..., N)`` inside ``[bins[0], bins[-1]]`` (not sorted unless ``deterministic``).
    """
    weights = weights + eps
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)  # (..., K + 1)
    shape = (*cdf.shape[:-1], num_samples)
    if deterministic:
        u = torch.linspace(0, 1, num_samples, device=cdf.device, dtype=cdf.dtype).expand(shape)
    else:
        u = torch.rand(shape, generator=generator, device=cdf.device, dtype=cdf.dtype)
    num_edges = cdf.shape[-1]
    inds = (cdf[..., None, :] < u[..., None]).sum(-1)  # == torch.searchsorted(cdf, u), (..., N)
    below = (inds - 1).clamp(min=0)
    above = inds.clamp(max=num_edges - 1)
    cdf_below, cdf_above = torch.gather(cdf, -1, below), torch.gather(cdf, -1, above)
    bin_below, bin_above = torch.gather(bins, -1, below), torch.gather(bins, -1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)  # an empty bin is never drawn from
    return bin_below + (u - cdf_below) / denom * (bin_above - bin_below)


def hierarchical_depths(depths: Tensor, weights: Tensor, num_fine: int, deterministic: bool = False,
                        generator: torch.Generator | None = None) -> Tensor:
    """Fine depths drawn where the coarse compositing weights are, as pi-GAN's generator does.

    The bins are the midpoints between coarse depths and the weights those of the interior coarse samples (each
    interior sample owns the interval between its neighbouring midpoints), plus :data:`HIERARCHICAL_WEIGHT_EPS`.
    The result carries no gradient.

    Args:
        depths: Coarse depths ``(B, R, S)``, sorted.
        weights: Coarse compositing weights ``(B, R, S)``.
        num_fine: ``N`` fine depths per ray (pi-GAN: ``N = S``).
        deterministic: Evenly spaced ``u`` instead of random.
        generator: Optional random generator.

    Returns:
        Fine depths ``(B, R, N)``.
    """
    depths, weights = depths.detach(), weights.detach()
    mids = 0.5 * (depths[..., 1:] + depths[..., :-1])
    fine = sample_pdf(mids, weights[..., 1:-1] + HIERARCHICAL_WEIGHT_EPS, num_fine, deterministic=deterministic,
                      generator=generator)
    return fine.detach()


def merge_by_depth(depths_a: Tensor, depths_b: Tensor, *values: tuple[Tensor, Tensor]) -> tuple[Tensor, ...]:
    """Concatenate two sample sets of the same rays and sort them by depth.

    Args:
        depths_a: Depths ``(B, R, Sa)``.
        depths_b: Depths ``(B, R, Sb)``.
        *values: Pairs ``(va, vb)`` of per-sample values ``(B, R, Sa, C)`` and ``(B, R, Sb, C)`` to reorder alike.

    Returns:
        ``(depths, *merged_values)``: depths ``(B, R, Sa + Sb)`` sorted ascending and each value
        ``(B, R, Sa + Sb, C)``.
    """
    depths = torch.cat([depths_a, depths_b], -1)
    depths, order = torch.sort(depths, dim=-1)
    merged = []
    for va, vb in values:
        v = torch.cat([va, vb], -2)
        merged.append(torch.gather(v, -2, order[..., None].expand(*order.shape, v.shape[-1])))
    return (depths, *merged)
