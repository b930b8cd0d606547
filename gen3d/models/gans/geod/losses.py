"""GeoD losses and schedule (Shi et al. 2022, arXiv 2209.15637).

The official GeoD code is not public; these follow the same first author's ``VivianSZF/pof3d`` (PoF3D), whose GeoD
path is ``train_geod.py`` / ``training/loss_pose.py``:

- G's geometry loss ``normal_loss_calc``: L1 between the rendered normals and the extracted normals of the fake
  image, summed over channels and pixels inside ``mask x (rendered normal != 0)``, divided by the mask's sum.
- its weight ramps linearly from ``normal_gamma_start`` (0.0) to ``normal_gamma_end`` (0.1) between
  ``normal_start_step`` (20) and ``normal_end_step`` (60) kimg, and the term is skipped outside
  ``(start, stop) = (20, 2000)`` kimg;
- lazy: after ``geod_interval_start`` kimg the term runs only on minibatches with ``batch_idx % geod_interval == 0``,
  with no gain for the skipped steps (unlike StyleGAN's lazy regularisers).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# VivianSZF/pof3d:training/loss_pose.py (StyleGAN2Loss defaults; train_geod.py does not override them)
WEIGHT_START = 0.0  # normal_gamma_start
WEIGHT_END = 0.1  # normal_gamma_end
RAMP_KIMG = (20.0, 60.0)  # normal_start_step, normal_end_step (kimg)
STOP_KIMG = 2000.0  # normal_gamma_stop (kimg)
INTERVAL = 1  # geod_interval
INTERVAL_START_KIMG = 0.0  # geod_interval_start
RAMP_EPS = 1e-7  # pof3d divides by (end - start + 1e-7)
MASK_EPS = 1e-8  # guards an empty mask (pof3d divides by the mask's sum unguarded)


def _check(name: str, t: Tensor, channels: int) -> None:
    if t.dim() != 4 or t.shape[1] != channels:
        raise ValueError(f"{name} must be (N, {channels}, H, W), got {tuple(t.shape)}")


def masked_normal_l1(n_g: Tensor, n_d: Tensor, mask: Tensor | None = None, detach_target: bool = False) -> Tensor:
    """G's GeoD loss: masked L1 between rendered and extracted normals (pof3d ``normal_loss_calc``).

    The mask is ``mask x [n_g != (0, 0, 0)]`` (pixels where the generator rendered a normal). pof3d does NOT detach
    the target (there: the inverse renderer run on the fake image, whose parameters G does not step), so the loss
    also reaches G through the fake image that the target is extracted from; ``detach_target=False`` keeps that.
    ``True`` is the stop-gradient variant (only the rendered geometry is pulled), kept as an option since the
    paper's choice is not verified.

    Args:
        n_g: ``(N, 3, H, W)`` rendered normals of the fake images.
        n_d: ``(N, 3, H, W)`` normals extracted from the same fake images (GeoD's head).
        mask: ``(N, 1, H, W)`` in ``[0, 1]`` (pof3d: the inverse renderer's valid-reconstruction mask; here the
            extractor's mask, the generator's opacity, or None for all pixels).
        detach_target: Stop the gradient through ``n_d``.

    Returns:
        Scalar: ``sum(|n_g - n_d| * m) / sum(m)`` (the sum runs over channels too, as in pof3d).
    """
    _check("n_g", n_g, 3)
    _check("n_d", n_d, 3)
    if n_d.shape != n_g.shape:
        raise ValueError(f"n_g {tuple(n_g.shape)} and n_d {tuple(n_d.shape)} differ")
    valid = (n_g != 0).any(1, keepdim=True).to(n_g.dtype)
    m = valid if mask is None else mask.to(n_g.dtype) * valid
    if detach_target:
        n_d = n_d.detach()
    return ((n_g - n_d).abs() * m).sum() / (m.expand_as(n_g[:, :1]).sum() + MASK_EPS)


def geometry_loss(pred: dict[str, Tensor], target: dict[str, Tensor | None],
                  outputs: Sequence[str] = ("normal",), depth_weight: float = 1.0) -> Tensor:
    """D's GeoD loss on real images: masked L1 of its geometry against the geometry source's target.

    Args:
        pred: The discriminator's ``{'normal': (N, 3, H, W), 'depth': (N, 1, H, W)}``.
        target: The source's ``{'normal', 'depth', 'mask': (N, 1, H, W) or None}``; its maps are resized to the
            prediction's size (nearest) when they differ, and never receive gradients.
        outputs: Which maps enter the loss (those both sides have).
        depth_weight: Weight of the depth term relative to the normal term.

    Returns:
        Scalar sum of the masked L1 of each map (per-pixel mean over the mask, summed over channels).
    """
    total, used = None, 0
    mask = target.get("mask")
    for key in outputs:
        if pred.get(key) is None or target.get(key) is None:
            continue
        p, t = pred[key], target[key].detach().to(pred[key].dtype)
        if t.shape[-2:] != p.shape[-2:]:
            t = torch.nn.functional.interpolate(t, size=p.shape[-2:], mode="nearest")
        m = torch.ones_like(p[:, :1]) if mask is None else mask.detach().to(p.dtype)
        if m.shape[-2:] != p.shape[-2:]:
            m = torch.nn.functional.interpolate(m, size=p.shape[-2:], mode="nearest")
        term = ((p - t).abs() * m).sum() / (m.sum() + MASK_EPS)
        term = term * (depth_weight if key == "depth" else 1.0)
        total, used = (term if total is None else total + term), used + 1
    if not used:
        raise ValueError(f"no geometry map of {tuple(outputs)} in both the prediction ({sorted(pred)}) and the "
                         f"target ({sorted(k for k, v in target.items() if v is not None)})")
    return total


def nvs_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L1 of GeoD's novel-view synthesis: D's prediction at pose 2 vs the render at pose 2.

    D phase: ``nvs_loss(D.novel_view(x1.detach(), e(pose2)), x2.detach())``; G phase: ``nvs_loss(x2,
    D.novel_view(x1, e(pose2)))`` with D frozen, the prediction detached by default (G's consistency term; see
    :mod:`.nvs`). The paper's NVS loss form is not verified; L1 is an assumption.

    Args:
        pred: ``(N, C, H, W)``.
        target: ``(N, C, H, W)``.

    Returns:
        Scalar mean absolute error.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return (pred - target).abs().mean()


def geod_weight(kimg: float, start: float = WEIGHT_START, end: float = WEIGHT_END,
                ramp_kimg: tuple[float, float] | None = RAMP_KIMG, stop_kimg: float = STOP_KIMG) -> float:
    """Weight of G's geometry loss after ``kimg`` thousand images (0 outside the active window).

    Args:
        kimg: Images seen, in thousands.
        start: Weight at the ramp's start (pof3d ``normal_gamma_start``).
        end: Weight at and after the ramp's end (``normal_gamma_end``).
        ramp_kimg: ``(begin, end)`` kimg of the linear ramp; ``end < 0`` or None: constant ``start`` after ``begin``
            (pof3d's ``normal_end_step == -1``; None also means ``begin = 0``).
        stop_kimg: The term is off from here on.

    Returns:
        ``min(start + (end - start) * (kimg - begin) / (ramp_end - begin + 1e-7), end)`` for
        ``begin < kimg < stop_kimg``, else 0.
    """
    begin, ramp_end = (0.0, -1.0) if ramp_kimg is None else (float(ramp_kimg[0]), float(ramp_kimg[1]))
    if not begin < kimg < stop_kimg:
        return 0.0
    if ramp_end < 0:
        return float(start)
    return float(min(start + (end - start) * (kimg - begin) / (ramp_end - begin + RAMP_EPS), end))


def geod_due(batch_idx: int, kimg: float, interval: int = INTERVAL,
             interval_start_kimg: float = INTERVAL_START_KIMG) -> bool:
    """Whether the lazy GeoD term runs on this minibatch (pof3d ``geod_interval`` / ``geod_interval_start``).

    Args:
        batch_idx: Minibatch counter of the training loop.
        kimg: Images seen, in thousands.
        interval: Run every ``interval`` minibatches once ``kimg > interval_start_kimg`` (every one before).
        interval_start_kimg: kimg after which the interval applies.

    Returns:
        True when the term is due. Skipped steps are not compensated by a gain.
    """
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    return kimg <= interval_start_kimg or int(batch_idx) % int(interval) == 0
