"""Reconstruction metrics of GAN inversion (PadInv, arXiv 2203.11105, Sec. 4): MSE, PSNR, SSIM and LPIPS.

Functional forms work per image on float batches ``(N, C, H, W)``. Images are in ``[-1, 1]`` by default (the range
the generators and encoders use, ``data_range=2``); pass ``data_range=1`` for ``[0, 1]`` images. ``mse`` is in the
images' own units (on ``[-1, 1]`` it is 4x the ``[0, 1]`` value, the unit of the official inversion loss).

SSIM is Wang et al. (IEEE TIP 2004): a Gaussian window of 11 px with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``,
population (co)variances, computed per channel on the valid region (no padding) and averaged over channels and
pixels: the same as ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)``. SSIM's luminance term is not shift-invariant, so images are first
mapped from ``value_range`` to ``[0, 1]`` (the value is then the SSIM of the uint8 images, as usually reported).

:class:`ReconstructionMetric` averages them over an evaluation set from the ``recon`` / ``real`` outputs of a
model's ``val_step`` (:class:`gen3d.models.editing.padinv.PadInv`); LPIPS is added when ``lpips_weights`` is given
(built through the registry as ``LPIPS``), never faked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor
from torch.nn import functional as F

from gen3d.registry import METRICS, MODELS

__all__ = ["ReconstructionMetric", "gaussian_window", "mse", "psnr", "ssim"]

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
DATA_RANGE = 2.0  # images in [-1, 1]
VALUE_RANGE = (-1.0, 1.0)


def _check_pair(a: Tensor, b: Tensor) -> None:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.ndim != 4 or a.shape != b.shape:
        shapes = [tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__ for x in (a, b)]
        raise ValueError(f"pred and target must be float (N, C, H, W) batches of one shape, got {shapes}")


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per image.

    Args:
        pred: ``(N, C, H, W)``.
        target: Same shape.

    Returns:
        ``(N,)`` float64.
    """
    _check_pair(pred, target)
    return (pred.double() - target.double()).square().flatten(1).mean(1)


def psnr(pred: Tensor, target: Tensor, data_range: float = DATA_RANGE) -> Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` dB (inf for identical images).

    Args:
        pred: ``(N, C, H, W)``.
        target: Same shape.
        data_range: Max minus min of the pixel range (2 for ``[-1, 1]``, 1 for ``[0, 1]``).

    Returns:
        ``(N,)`` float64.
    """
    return 10 * torch.log10(data_range**2 / mse(pred, target))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalised 1-D Gaussian ``(size,)`` float64."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(pred: Tensor, target: Tensor, value_range: tuple[float, float] = VALUE_RANGE, window: int = SSIM_WINDOW,
         sigma: float = SSIM_SIGMA) -> Tensor:
    """Structural similarity per image (module docstring).

    Args:
        pred: ``(N, C, H, W)`` with ``H, W >= window``.
        target: Same shape.
        value_range: ``(low, high)`` of the pixel range (``(-1, 1)`` or ``(0, 1)``), mapped to ``[0, 1]``.
        window: Gaussian window side.
        sigma: Its standard deviation.

    Returns:
        ``(N,)`` float64 in ``[-1, 1]`` (1 for identical images).
    """
    _check_pair(pred, target)
    if min(pred.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window} x {window} px, got {tuple(pred.shape[-2:])}")
    n, c = pred.shape[:2]
    g = gaussian_window(window, sigma).to(pred.device)
    kernel = (g[:, None] * g[None, :]).expand(c, 1, window, window)
    low, high = value_range
    x, y = (pred.double() - low) / (high - low), (target.double() - low) / (high - low)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1 after the mapping
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.reshape(n, -1).mean(1)


@METRICS.register_module()
class ReconstructionMetric(BaseMetric):
    """Mean MSE, PSNR (dB) and SSIM (and LPIPS) of reconstructions over an evaluation set.

    Each ``val_step`` output is a dict with float ``(C, H, W)`` images under ``pred_key`` / ``gt_key``.

    Args:
        pred_key: Key of the reconstruction.
        gt_key: Key of the target.
        data_range: Pixel range (2 for ``[-1, 1]``); predictions are clamped to it (``[-1, 1]`` or ``[0, 1]``).
        lpips_weights: LPIPS weights file; None: no LPIPS (not faked).
        collect_device: mmengine ``BaseMetric`` argument.
        prefix: Key prefix (default ``'recon'``).
    """

    default_prefix = "recon"

    def __init__(self, pred_key: str = "recon", gt_key: str = "real", data_range: float = DATA_RANGE,
                 lpips_weights: str | None = None, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if data_range not in (1.0, 2.0):
            raise ValueError(f"data_range must be 2 ([-1, 1] images) or 1 ([0, 1] images), got {data_range}")
        self.pred_key, self.gt_key, self.data_range = pred_key, gt_key, float(data_range)
        self.lpips = None
        if lpips_weights:
            if MODELS.get("LPIPS") is None:
                raise ValueError("lpips_weights: the LPIPS network is not registered (import gen3d.models first)")
            self.lpips = MODELS.build(dict(type="LPIPS", weights=lpips_weights)).eval().requires_grad_(False)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:  # noqa: ANN401 - mmengine's batch
        """Score one batch of ``val_step`` outputs."""
        for sample in data_samples:
            if self.pred_key not in sample or self.gt_key not in sample:
                raise KeyError(f"ReconstructionMetric needs {self.pred_key!r} and {self.gt_key!r} in each output, "
                               f"got {sorted(sample)}")
        low = -1.0 if self.data_range == 2.0 else 0.0
        pred = torch.stack([torch.as_tensor(s[self.pred_key]).float() for s in data_samples]).clamp(low, 1.0)
        gt = torch.stack([torch.as_tensor(s[self.gt_key]).float() for s in data_samples])
        scores = {"mse": mse(pred, gt), "psnr": psnr(pred, gt, self.data_range),
                  "ssim": ssim(pred, gt, (low, 1.0))}
        if self.lpips is not None:
            to_pm1 = (lambda t: t) if self.data_range == 2.0 else (lambda t: t * 2 - 1)
            rgb = (lambda t: t.expand(-1, 3, -1, -1)) if pred.shape[1] == 1 else (lambda t: t)
            with torch.no_grad():
                scores["lpips"] = self.lpips(rgb(to_pm1(gt)), rgb(to_pm1(pred))).double().flatten()
        for i in range(pred.shape[0]):
            self.results.append({k: float(v[i]) for k, v in scores.items()})

    def compute_metrics(self, results: list[dict[str, float]]) -> dict[str, float]:
        """Means over the set (PSNR: mean of per-image dB)."""
        if not results:
            raise ValueError("ReconstructionMetric got no samples")
        return {k: sum(r[k] for r in results) / len(results) for k in results[0]}
