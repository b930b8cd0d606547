"""DepthGAN's evaluation (Shi et al., ECCV'22, arXiv 2202.08553): RotEval and the depth-bin head of D.

* :class:`RotEval` (``VivianSZF/depthgan@80b259d:metrics/rotation_metric.py``): one latent rendered at two yaws
  drawn independently from the training distribution; view b is warped into view a through a's depth (the warp of
  the rotation losses, ``change_a``) and the masked L1 of depth and RGB is pooled over all pairs: the sums over
  pixels and samples divided by the total mask count (RGB summed over its three channels, as the official code).
* :class:`DepthBinAccuracy` (``metrics/real_depth_eval.py``, RealDepthEval): cross-entropy of D's RGB-only depth-bin
  logits on real images against the bins of their depth, averaged over all pixels (the official number), plus the
  pixel accuracy of the arg-max (gen3d's addition) and the same pair on fakes against the bins of their own depth.

FID on depth (``metrics/fid_metric_depth.py``: Inception on the depth map repeated to three channels) is
:class:`~gen3d.evaluation.metrics.fid_metric.FrechetInceptionDistance` with ``fake_key='fake_depth_img'``,
``real_key='real_depth_img'``, ``key_suffix='_depth'``.

The warp and the bins are those of the training losses (:mod:`.depthgan_warp`, one implementation).
"""

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from gen3d.registry import METRICS

from .depthgan_warp import Warp, depth_bins, depth_to_metric, depthgan_intrinsics, warp_by_yaw
from .geometry_metric import stack_field

__all__ = ["DepthBinAccuracy", "RotEval", "depthgan_yaw_warp"]

ROTEVAL_KEYS = ("roteval_depth", "roteval_rgb")
REAL_KEYS = ("real_depth_ce", "real_depth_acc")
FAKE_KEYS = ("fake_depth_ce", "fake_depth_acc")
_ROT_INPUTS = ("fake_rgbd", "yaw", "fake_rgbd_b", "yaw_b", "warp_focal", "warp_shift")


def depthgan_yaw_warp(rgbd_a: Tensor, yaw_a: Tensor, rgbd_b: Tensor, yaw_b: Tensor, focal: Tensor | float,
                      shift: Tensor | float, occlusion_aware: bool = False, occlusion_tol: float = 0.0) -> Warp:
    """:func:`~.depthgan_warp.warp_views` with a focal length and a depth shift per sample (validation outputs).

    Args:
        rgbd_a: ``(N, 4, H, W)`` RGB and normalised depth of view a.
        yaw_a: ``(N,)`` radians.
        rgbd_b: ``(N, 4, H, W)`` view b.
        yaw_b: ``(N,)`` radians; ``|yaw_b - yaw_a| < pi / 2``.
        focal: Focal length in pixels, a number or ``(N,)``.
        shift: The depth shift ``s``, a number or ``(N,)``.
        occlusion_aware: Keep only a's points not behind b's surface (:func:`~.depthgan_warp.warp_by_yaw`).
        occlusion_tol: Relative slack of that test.

    Returns:
        :class:`~.depthgan_warp.Warp` (``image``, ``depth``, ``z``, ``mask``, ``grid``).

    Raises:
        ValueError: Shapes, or a yaw difference the warp cannot handle.
    """
    if rgbd_a.dim() != 4 or rgbd_a.shape[1] != 4 or rgbd_b.shape != rgbd_a.shape:
        raise ValueError(f"rgbd_a and rgbd_b must both be (N, 4, H, W), got {tuple(rgbd_a.shape)} and "
                         f"{tuple(rgbd_b.shape)}")
    n, _, h, w = rgbd_a.shape
    dtype, device = rgbd_a.dtype, rgbd_a.device
    angle = (torch.as_tensor(yaw_b) - torch.as_tensor(yaw_a)).reshape(-1).to(dtype=dtype, device=device).expand(n)
    shift = torch.as_tensor(shift, dtype=dtype, device=device).reshape(-1, 1, 1, 1)
    k = depthgan_intrinsics(h, w).to(dtype=dtype, device=device).repeat(n, 1, 1)
    k[:, 0, 0] = k[:, 1, 1] = torch.as_tensor(focal, dtype=dtype, device=device).reshape(-1).expand(n)
    depth_a, depth_b = depth_to_metric(rgbd_a[:, 3:], shift), depth_to_metric(rgbd_b[:, 3:], shift)
    return warp_by_yaw(depth_a, angle, rgbd_b[:, :3], depth_b, k, occlusion_aware=occlusion_aware,
                       occlusion_tol=occlusion_tol)


def _require(samples: Sequence[Any], keys: Sequence[str], metric: str) -> dict[str, Tensor]:
    """``{key: (N, ...) stack}`` of per-sample fields; ValueError naming the first missing key."""
    out = {}
    for key in keys:
        value = stack_field(samples, key)
        if value is None:
            have = sorted(samples[0].keys()) if samples and hasattr(samples[0], "keys") else []
            raise ValueError(f"{metric} needs {key!r} in every val_step output (all of {list(keys)}); a sample "
                             f"carries {have}")
        out[key] = value
    return out


@METRICS.register_module()
class RotEval(BaseMetric):
    """DepthGAN's RotEval: masked L1 of depth and RGB between two yaws of one latent (lower is better).

    Result keys: ``roteval_depth`` (sum over pairs and pixels of ``mask * |warp(d_b) - z'|``, metric depth, over the
    total mask count) and ``roteval_rgb`` (sum of ``mask * |warp(x_b) - x_a|`` over pairs, pixels and the three
    channels of the raw ``[-1, 1]`` RGB, over the same count), as the official sums.

    Per-sample inputs (the DepthGAN model's ``val_step``): ``fake_rgbd`` / ``fake_rgbd_b`` ``(4, R, R)`` float (raw
    RGB and normalised depth) at yaws ``yaw`` / ``yaw_b`` (radians), ``warp_focal`` (pixels) and ``warp_shift``
    (the depth shift ``s``). Each sample keeps three numbers: its two sums and its mask count.

    Args:
        occlusion_aware: Also drop view a's points hidden behind view b's surface (official default: off).
        occlusion_tol: Relative depth slack of the occlusion test.
        collect_device: Device mmengine gathers results on.
        prefix: Key prefix.
    """

    def __init__(self, occlusion_aware: bool = False, occlusion_tol: float = 0.0, collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.occlusion_aware, self.occlusion_tol = bool(occlusion_aware), float(occlusion_tol)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Warp each sample's view b into its view a; store ``[depth sum, rgb sum, mask count]`` per sample.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: Per-sample dicts with the keys of the class docstring.

        Raises:
            ValueError: A sample lacks one of them (named).
        """
        v = _require(data_samples, _ROT_INPUTS, type(self).__name__)
        warp = depthgan_yaw_warp(v["fake_rgbd"].float(), v["yaw"].float(), v["fake_rgbd_b"].float(),
                                 v["yaw_b"].float(), v["warp_focal"].float(), v["warp_shift"].float(),
                                 self.occlusion_aware, self.occlusion_tol)
        mask = warp.mask.double()
        depth = ((warp.depth - warp.z).abs().double() * mask).sum((1, 2, 3))
        rgb = ((warp.image - v["fake_rgbd"][:, :3].float()).abs().double() * mask).sum((1, 2, 3))
        self.results.extend(np.array(row, dtype=np.float64) for row in
                            torch.stack([depth, rgb, mask.sum((1, 2, 3))], 1).tolist())

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        """Pooled sums of all ranks over the pooled mask count (NaN when no pixel stayed in view)."""
        depth, rgb, count = np.sum(results, 0)
        return {ROTEVAL_KEYS[0]: float(depth / count) if count else math.nan,
                ROTEVAL_KEYS[1]: float(rgb / count) if count else math.nan}


def _bin_scores(logits: Tensor, depth: Tensor) -> Tensor:
    """``(N, 3)`` float64 per image: summed per-pixel cross-entropy, correct arg-max pixels, pixel count."""
    if logits.dim() != 4 or depth.shape != (logits.shape[0], 1, *logits.shape[-2:]):
        raise ValueError(f"logits (N, bins, H, W) and depth (N, 1, H, W) must match, got {tuple(logits.shape)} "
                         f"and {tuple(depth.shape)}")
    target = depth_bins(depth.float(), logits.shape[1])
    ce = F.cross_entropy(logits.float(), target, reduction="none").double().sum((1, 2))
    correct = (logits.argmax(1) == target).double().sum((1, 2))
    return torch.stack([ce, correct, torch.full_like(ce, target[0].numel())], 1)


@METRICS.register_module()
class DepthBinAccuracy(BaseMetric):
    """D's depth head (RealDepthEval): cross-entropy and pixel accuracy of its depth-bin logits.

    Result keys: ``real_depth_ce`` (the official RealDepthEval number: per-pixel cross-entropy of D's RGB-only depth
    logits of real images against the bins of the real depth, averaged over all pixels of all images),
    ``real_depth_acc`` (fraction of pixels whose arg-max is the true bin), and ``fake_depth_ce`` /
    ``fake_depth_acc``, the same on generated images against the bins of the generator's own depth. The real keys
    appear only when the data have depth; without any, a warning says so once and no number is made up.

    Per-sample inputs: ``fake_depth_logits`` ``(bins, R, R)`` and ``fake_rgbd`` ``(4, R, R)`` (its fourth channel is
    the depth); where the data have depth, ``real_depth_logits`` ``(bins, R, R)`` and ``real_depth`` ``(1, R, R)``,
    normalised to ``[-1, 1]``. The bins are ``clamp(floor((d + 1) / 2 * bins), 0, bins - 1)``, ``bins`` the logits'
    channel count.

    Args:
        collect_device: Device mmengine gathers results on.
        prefix: Key prefix.
    """

    def __init__(self, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._warned_no_depth = False

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store ``[fake ce sum, fake correct, fake pixels, real ce sum, real correct, real pixels]`` per sample.

        Samples without ``real_depth`` get zero real pixels.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: Per-sample dicts with the keys of the class docstring.

        Raises:
            ValueError: A fake key is missing, or ``real_depth`` comes without ``real_depth_logits`` (named).
        """
        name = type(self).__name__
        v = _require(data_samples, ("fake_depth_logits", "fake_rgbd"), name)
        rows = torch.zeros(len(data_samples), 6, dtype=torch.float64)
        rows[:, :3] = _bin_scores(v["fake_depth_logits"], v["fake_rgbd"][:, 3:])
        has = [i for i, s in enumerate(data_samples) if stack_field([s], "real_depth") is not None]
        if has:
            real = _require([data_samples[i] for i in has], ("real_depth", "real_depth_logits"), name)
            depth = real["real_depth"] if real["real_depth"].dim() == 4 else real["real_depth"][:, None]
            rows[has, 3:] = _bin_scores(real["real_depth_logits"], depth)
        self.results.extend(rows.numpy())

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        """Pixel-pooled cross-entropy and accuracy of all ranks; real keys only where real depth was seen."""
        f_ce, f_ok, f_n, r_ce, r_ok, r_n = np.sum(results, 0)
        out = {FAKE_KEYS[0]: float(f_ce / f_n), FAKE_KEYS[1]: float(f_ok / f_n)}
        if r_n:
            out.update({REAL_KEYS[0]: float(r_ce / r_n), REAL_KEYS[1]: float(r_ok / r_n)})
        elif not self._warned_no_depth:
            self._warned_no_depth = True
            msg = (f"{type(self).__name__}: no validation sample carried 'real_depth' (the data set has no depth), "
                   f"so {', '.join(REAL_KEYS)} are not reported")
            warnings.warn(msg, UserWarning, stacklevel=2)
            print_log(msg, logger="current", level=logging.WARNING)
        return out
