"""DepthGAN's view warp and depth bins (arXiv 2202.08553, Sec. 3.3): two views compared through the depth.

Shared by the training losses (:mod:`gen3d.models.gans.depthgan`, which re-exports it) and RotEval
(:mod:`.depthgan_metric`); it lives in ``evaluation`` because ``evaluation`` never imports ``models``.

The rotation losses and the RotEval metric of ``VivianSZF/depthgan@80b259d`` (``runners/losses/depthgan_loss.py``
and ``metrics/rotation_metric.py``, both ``change_a``) warp view 2 (yaw ``theta_2``) into view 1 (yaw ``theta_1``):

1. the normalised depth ``d`` in ``[-1, 1]`` becomes ``(d + 1) / 2 - s`` with ``s = -0.13`` (:func:`depth_to_metric`);
2. view 1's depth is unprojected with ``K = [[260, 0, W / 2], [0, 260, H / 2], [0, 0, 1]]`` (OpenCV camera:
   ``x`` right, ``y`` down, ``z`` forward; planar depth);
3. the points are rotated about the ``y`` axis by ``theta_2 - theta_1`` around ``c``, the midpoint of the x and z
   extents (``(max + min) / 2``) of the point cloud: ``p' = R_y(theta_2 - theta_1) (p - c) + c`` with
   ``R_y(a) = [[cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]]`` (official: angle-axis ``[0, -1, 0] * theta``
   applied to row vectors);
4. they are projected with ``K``; view 2's image and depth are sampled there; ``z'`` (official ``z_r``) is the depth
   of view 1's points seen from view 2. The losses are ``L1(m * warp(d_2), m * z')`` and ``L1(m * warp(x_2), m * x_1)``.
5. occlusion-aware variant (off by default): keep only ``z' < warp(d_2)``, view 1's points not behind the surface that
   view 2 sees there (view 2's depth map as the z-buffer).

Steps 2-4 are :func:`gen3d.evaluation.metrics.geometry_functional.reproject` with ``camera='opencv'``,
``depth_kind='z'``, ``cam2world_a = I`` and ``cam2world_b = T(c) R_y(-(theta_2 - theta_1)) T(-c)``.

Deviations from the official code, both at the pixel level: pixels are sampled at their centres (``reproject``'s
grid for ``align_corners=True``; the official ``2 * uv / W - 1`` with ``align_corners=False`` samples half a pixel up
and left, so even ``theta_2 = theta_1`` is not the identity there), and the in-bounds mask keeps ``u`` in
``[-0.5, W - 0.5]`` (official ``[0, W]``; both use ``W`` for the rows too, so non-square images differ), sampling
with border padding (official zeros). The yaw of each view is drawn from ``U(-pi/12, pi/12)`` (official ``a_dis``).
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry_functional import reproject, unproject

YAW_MAX = math.pi / 12  # DepthGANRunner: a_dis = Uniform(-pi / 12, pi / 12)
NUM_DEPTH_BINS = 10  # DepthGANDiscriminator(num_classes=10); DepthGANLoss num_classes=10

FOCAL_PX = 260.0  # change_a: K = [[260, 0, W / 2], [0, 260, H / 2], [0, 0, 1]]
DEPTH_SHIFT = -0.13  # change_a: s = -0.13; metric depth = (d + 1) / 2 - s
YAW_RANGE = YAW_MAX
MAX_WARP_ANGLE = math.pi / 2  # at |theta_2 - theta_1| >= pi / 2 a fronto-parallel surface is seen edge-on or behind
CAMERA, DEPTH_KIND = "opencv", "z"


class Warp(NamedTuple):
    """View 2 warped into view 1's pixel grid.

    Attributes:
        image: ``(N, C, H, W)`` source image sampled where view 1's pixels land in view 2.
        depth: ``(N, 1, H, W)`` source (metric) depth sampled there; ``None`` when no source depth was given.
        z: ``(N, 1, H, W)`` depth of view 1's points seen from view 2 (official ``z_r``).
        mask: ``(N, 1, H, W)`` bool: in front of and inside view 2 and, occlusion-aware, not hidden behind its surface.
        grid: ``(N, H, W, 2)`` sampling grid (``grid_sample(..., align_corners=True)``).
    """

    image: Tensor
    depth: Tensor | None
    z: Tensor
    mask: Tensor
    grid: Tensor


def depth_bins(depth: Tensor, num_bins: int = NUM_DEPTH_BINS) -> Tensor:
    """Class targets of D's depth head: ``clamp(floor((d + 1) / 2 * num_bins), 0, num_bins - 1)``.

    The bins split ``[-1, 1]`` into ``num_bins`` equal intervals (depth ``1`` falls in the last bin).

    Args:
        depth: ``(N, 1, H, W)`` or ``(N, H, W)`` normalised depth in ``[-1, 1]``.
        num_bins: Number of bins.

    Returns:
        ``(N, H, W)`` long, in ``[0, num_bins)``.
    """
    if depth.dim() == 4:
        if depth.shape[1] != 1:
            raise ValueError(f"depth must be (N, 1, H, W) or (N, H, W), got {tuple(depth.shape)}")
        depth = depth[:, 0]
    return torch.floor((depth + 1) / 2 * num_bins).clamp(0, num_bins - 1).long()


def depthgan_intrinsics(height: int, width: int, focal: float = FOCAL_PX) -> Tensor:
    """DepthGAN's pinhole intrinsics: focal 260 px, principal point ``(W / 2, H / 2)`` (whatever the resolution).

    Returns:
        ``K`` ``(3, 3)``.
    """
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def depth_to_metric(depth: Tensor, shift: float = DEPTH_SHIFT) -> Tensor:
    """Map the generator's normalised depth to the warp's depth: ``(d + 1) / 2 - shift`` (``[-1, 1] -> [0.13, 1.13]``).

    Args:
        depth: ``(N, 1, H, W)`` in ``[-1, 1]``.
        shift: Official ``s``.

    Returns:
        ``(N, 1, H, W)``, positive for ``d > -1 + 2 * shift``.
    """
    return (depth + 1) / 2 - shift


def check_warp_angle(angle: Tensor | float, key: str = "theta_2 - theta_1", limit: float = MAX_WARP_ANGLE) -> None:
    """Refuse a yaw difference the warp cannot handle (``|angle| >= limit``).

    Args:
        angle: Radians, a number or any tensor of them.
        key: Name of the quantity in the message (an argument or config key).
        limit: Largest magnitude allowed (exclusive).

    Raises:
        ValueError: Naming ``key``.
    """
    angle = torch.as_tensor(angle).detach()
    worst = float(angle.abs().max()) if angle.numel() else 0.0
    if not worst < limit:  # also refuses NaN
        raise ValueError(f"{key}: |angle| up to {worst:.4f} rad, the DepthGAN warp needs < {limit:.4f} rad "
                         f"({math.degrees(limit):.0f} deg): beyond it a fronto-parallel surface is seen edge-on or "
                         f"from behind")


def check_yaw_range(yaw_range: tuple[float, float] | float, key: str = "yaw_range") -> None:
    """Refuse a training yaw distribution ``U(low, high)`` whose pairs can differ by ``high - low >= pi / 2``.

    Args:
        yaw_range: ``(low, high)`` radians (the generator's ``yaw_range``; DepthGAN ``(-pi / 12, pi / 12)``), or a
            half-width ``r`` meaning ``(-r, r)``.
        key: Config key named in the message.

    Raises:
        ValueError: Naming ``key``.
    """
    low, high = (-yaw_range, yaw_range) if isinstance(yaw_range, int | float) else (float(v) for v in yaw_range)
    if not low <= high:
        raise ValueError(f"{key} must be (low, high) with low <= high, got {yaw_range}")
    check_warp_angle(high - low, key=f"{key} (pairs of views differ by up to high - low)")


def rotation_centre(points: Tensor) -> Tensor:
    """Official rotation centre: the midpoints of the x and z extents of each point cloud (``y = 0``).

    Args:
        points: ``(N, ..., 3)`` camera-space points.

    Returns:
        ``(N, 3)``.
    """
    flat = points.reshape(points.shape[0], -1, 3)
    mid = (flat.amax(1) + flat.amin(1)) / 2
    return mid * torch.tensor([1.0, 0.0, 1.0], dtype=mid.dtype, device=mid.device)


def yaw_cam2world(angle: Tensor, centre: Tensor) -> Tensor:
    """Camera-to-world of the second view when the first is the world: ``T(c) R_y(-angle) T(-c)``.

    Its inverse ``T(c) R_y(angle) T(-c)`` takes view 1's points to view 2's frame.

    Args:
        angle: ``(N,)`` radians (``theta_2 - theta_1``).
        centre: ``(N, 3)``.

    Returns:
        ``(N, 4, 4)``.
    """
    cos, sin = angle.cos(), -angle.sin()
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rot = torch.stack([cos, zero, sin, zero, one, zero, -sin, zero, cos], -1).reshape(-1, 3, 3)
    trans = centre - torch.einsum("nij,nj->ni", rot, centre)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=rot.dtype, device=rot.device).expand(len(rot), 1, 4)
    return torch.cat([torch.cat([rot, trans[:, :, None]], -1), bottom], 1)


def warp_by_yaw(depth: Tensor, angle: Tensor | float, source: Tensor, source_depth: Tensor | None = None,
                intrinsics: Tensor | None = None, centre: Tensor | None = None, occlusion_aware: bool = False,
                occlusion_tol: float = 0.0) -> Warp:
    """Warp a source view into a target view through the target's depth and a yaw difference.

    Args:
        depth: ``(N, 1, H, W)`` metric planar depth of the target view (view 1), positive.
        angle: ``theta_source - theta_target`` radians, a number or ``(N,)`` / ``(N, 1)``; ``|angle| < pi / 2``.
        source: ``(N, C, H, W)`` image of the source view (view 2), any range.
        source_depth: Optional ``(N, 1, H, W)`` metric depth of the source view (sampled as well).
        intrinsics: ``K`` ``(3, 3)`` or ``(N, 3, 3)``; default :func:`depthgan_intrinsics`.
        centre: Optional ``(N, 3)`` rotation centre in the target's camera frame; default :func:`rotation_centre`
            of the target's points (official).
        occlusion_aware: Also drop target points behind the source's surface: keep
            ``z < warped source depth * (1 + occlusion_tol)`` (official: strict, ``occlusion_tol = 0``).
        occlusion_tol: Relative depth slack of that test.

    Returns:
        :class:`Warp`.
    """
    n, _, h, w = depth.shape
    if source.dim() != 4 or source.shape[0] != n or source.shape[-2:] != depth.shape[-2:]:
        raise ValueError(f"source must be (N, C, {h}, {w}) like depth {tuple(depth.shape)}, got {tuple(source.shape)}")
    if source_depth is not None and source_depth.shape != depth.shape:
        raise ValueError(f"source_depth must be {tuple(depth.shape)}, got {tuple(source_depth.shape)}")
    if occlusion_aware and source_depth is None:
        raise ValueError("occlusion_aware needs source_depth")
    check_warp_angle(angle, key="angle")
    k = depthgan_intrinsics(h, w) if intrinsics is None else intrinsics
    angle = torch.as_tensor(angle, dtype=depth.dtype, device=depth.device).reshape(-1).expand(n)
    if centre is None:
        centre = rotation_centre(unproject(depth, k, DEPTH_KIND, CAMERA))
    identity = torch.eye(4, dtype=depth.dtype, device=depth.device).expand(n, 4, 4)
    rep = reproject(depth, identity, yaw_cam2world(angle, centre.to(depth.dtype)), k, DEPTH_KIND, CAMERA)
    grid = rep.grid.to(source.dtype)
    image = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=True)
    warped_depth, mask = None, rep.valid
    if source_depth is not None:
        warped_depth = F.grid_sample(source_depth, grid.to(source_depth.dtype), mode="bilinear",
                                     padding_mode="border", align_corners=True)
        if occlusion_aware:
            mask = mask & (rep.depth < warped_depth * (1 + occlusion_tol))
    return Warp(image, warped_depth, rep.depth, mask, rep.grid)


def warp_views(rgbd_1: Tensor, theta_1: Tensor, rgbd_2: Tensor, theta_2: Tensor, occlusion_aware: bool = False,
               occlusion_tol: float = 0.0, intrinsics: Tensor | None = None, shift: float = DEPTH_SHIFT) -> Warp:
    """Official ``change_a``: view 2 of a generated RGBD pair warped into view 1, depths made metric first.

    Args:
        rgbd_1: ``(N, 4, H, W)`` view 1, RGB and normalised depth in ``[-1, 1]``.
        theta_1: ``(N,)`` or ``(N, 1)`` yaw of view 1, radians.
        rgbd_2: ``(N, 4, H, W)`` view 2.
        theta_2: Yaw of view 2.
        occlusion_aware: See :func:`warp_by_yaw`.
        occlusion_tol: See :func:`warp_by_yaw`.
        intrinsics: ``K``; default :func:`depthgan_intrinsics` (focal 260 px at every resolution, as the official
            code). Data rendered at a fixed field of view (``gen3d.datasets.rooms_synthesis``: DepthGAN's 256 px
            one) need ``depthgan_intrinsics(H, W, focal=260 * W / 256)``.
        shift: :func:`depth_to_metric`'s ``s`` (official ``-0.13``). Data normalised from metric depth with
            ``depth_range = (0, far)`` (the rooms' layout) are exactly ``z / far`` at ``shift = 0``.

    Returns:
        :class:`Warp` with ``image`` = warped RGB of view 2, ``depth`` = its warped metric depth, ``z`` = view 1's
        metric depth seen from view 2; the losses compare ``image`` with ``rgbd_1[:, :3]`` and ``depth`` with ``z``.
    """
    for name, x in (("rgbd_1", rgbd_1), ("rgbd_2", rgbd_2)):
        if x.dim() != 4 or x.shape[1] != 4:
            raise ValueError(f"{name} must be (N, 4, H, W), got {tuple(x.shape)}")
    angle = (torch.as_tensor(theta_2) - torch.as_tensor(theta_1)).reshape(-1)
    depth_1, depth_2 = depth_to_metric(rgbd_1[:, 3:], shift), depth_to_metric(rgbd_2[:, 3:], shift)
    return warp_by_yaw(depth_1, angle, rgbd_2[:, :3], depth_2, intrinsics, occlusion_aware=occlusion_aware,
                       occlusion_tol=occlusion_tol)
