"""Locality of ReSeFa directions against SeFa and random ones (Zhu et al., ICML'22, arXiv 2202.09649).

The paper's evaluation is qualitative; the proxy here is :func:`~gen3d.models.editing.locality_ratio`, mean
``|delta x|`` inside the region over mean ``|delta x|`` outside, on held-out latents. The region is one box / mask
for every sample, or a per-sample ``region_fn`` (:mod:`gen3d.models.editing.label_regions`): the ReSeFa directions
then use each direction latent's own region, and each evaluation latent is scored on its own region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.editing import locality_ratio, region_mask, resefa_directions, sample_ws, sefa_directions
from gen3d.models.editing.label_regions import RegionFn, mask_at, sample_masks
from gen3d.models.editing.resefa import JACOBIAN_MAX_SIZE, NUM_SAMPLES, SEED, require_w_generator

Region = Sequence[int] | str | np.ndarray | Tensor


def _upsample(mask: Tensor, size: int) -> Tensor:
    if tuple(mask.shape) == (size, size):
        return mask
    return F.interpolate(mask[None, None].float(), size=(size, size), mode="nearest")[0, 0].bool()


def locality_table(generator: nn.Module, region: Region | None, layers: Sequence[int] | None = None,
                   num_eval: int = 8, seed: int = 123, num_random: int = 20, alpha: float = 1.0,
                   num_samples: int = NUM_SAMPLES, direction_seed: int = SEED,
                   region_fn: RegionFn | None = None) -> list[dict]:
    """Locality ratios of the top ReSeFa direction, the top SeFa direction and random unit directions.

    Args:
        generator: A StyleGAN2 generator in eval mode.
        region: Box ``[cr, cc, h, w]`` in pixels of the Jacobian resolution (generator's, at most 256), a
            :data:`~gen3d.models.editing.FFHQ_BOXES` name or a boolean mask (any size, resized nearest); None with
            ``region_fn``.
        layers: Layers the Jacobian flows through, SeFa factorises and the edit moves; None: all.
        num_eval: Evaluation latents (seed ``seed``, truncated as the manipulation).
        seed: Their seed; must differ from ``direction_seed`` (held-out latents).
        num_random: Random directions (seed ``seed + 1``).
        alpha: Edit strength along the unit directions.
        num_samples: ReSeFa latents.
        direction_seed: Their seed.
        region_fn: ``image (1, C, R, R) -> (H, W) bool`` per sample, instead of ``region``.

    Returns:
        Rows ``direction``, ``locality`` (mean ratio), ``std`` (over the evaluation latents; random: over the random
        directions' mean ratios), ``x random`` (locality over the random mean).
    """
    require_w_generator(generator)
    if seed == direction_seed:
        raise ValueError(f"seed must differ from direction_seed ({seed}): evaluate on latents the directions did not "
                         "see")
    if (region is None) == (region_fn is None):
        raise ValueError("region: give exactly one of region and region_fn")
    res = generator.synthesis.resolution
    size = min(res, JACOBIAN_MAX_SIZE)
    dev = next(generator.parameters()).device
    ws = sample_ws(generator, num_eval, seed)
    if region_fn is None:
        mask = mask_at(region, size) if isinstance(region, (np.ndarray, Tensor)) else region_mask(region, size)
        resefa = resefa_directions(generator, mask.to(dev), num_samples, direction_seed, layers=layers)
        eval_masks = _upsample(mask, res)[None]
    else:
        resefa = resefa_directions(generator, None, num_samples, direction_seed, layers=layers, region_fn=region_fn)
        with torch.no_grad():
            images = generator.synthesis(ws, noise_mode="const")
        eval_masks = sample_masks(region_fn, images, res, "region_fn (evaluation)")

    def ratios(n: np.ndarray) -> Tensor:  # (num_eval,): each latent on its own region
        if region_fn is None:
            return locality_ratio(generator, ws, n, eval_masks[0], alpha, layers, per_latent=True)
        return torch.cat([locality_ratio(generator, ws[i:i + 1], n, eval_masks[i], alpha, layers, per_latent=True)
                          for i in range(num_eval)])

    rows = []
    for name, n in (("ReSeFa top", resefa.directions[0]), ("SeFa top", sefa_directions(generator, layers)[1][0])):
        r = ratios(n)
        rows.append({"direction": name, "locality": float(r.mean()), "std": float(r.std(unbiased=False))})
    rand = np.random.RandomState(seed + 1).randn(num_random, generator.w_dim)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    means = np.array([float(ratios(n).mean()) for n in rand])
    rows.append({"direction": f"random (mean of {num_random})", "locality": float(means.mean()),
                 "std": float(means.std())})
    for row in rows:
        row["x random"] = row["locality"] / rows[-1]["locality"]
    return rows
