"""Geometry metrics as pure functions: normal angular error, aligned depth error, reprojection between views.

The reprojection (warp) of one view into another serves multi-view consistency (GeoD, arXiv 2209.15637) and DepthGAN's
RotEval (``VivianSZF/depthgan:metrics/rotation_metric.py``, arXiv 2202.08553) both need.

Cameras are given as tensors, so nothing here knows a generator: ``cam2world`` ``(B, 4, 4)`` and pinhole
intrinsics ``K`` ``(3, 3)`` or ``(B, 3, 3)`` in pixels, OpenCV layout (``u = fx x / z + cx`` with ``u`` the column,
``v`` the row, pixel centres at integers). ``camera='opengl'`` (the default, gen3d's renderer: camera ``x`` right,
``y`` up, looking down ``-z``, as ``gen3d/models/rendering/cameras.py``) applies ``K`` to ``(x, -y, -z)``;
``camera='opencv'`` (``y`` down, looking down ``+z``, DepthGAN's warp) applies it to ``(x, y, z)``. Depth is planar
(``depth_kind='z'``, distance along the optical axis) or the distance along the pixel's ray (``'ray'``, pi-GAN's
``sum w_i t_i``). :func:`pinhole_intrinsics` and :func:`sphere_cam2world` rebuild the renderer's matrices without
importing ``gen3d.models`` (a test checks that they are equal). DepthGAN's RotEval warp is :func:`reproject` with
``camera='opencv'``, ``depth_kind='z'``, its ``K = [[260, 0, W/2], [0, 260, H/2], [0, 0, 1]]``, ``cam2world_a = I``
and ``cam2world_b = inv(T(c) R_y(theta_2 - theta_1) T(-c))``, ``c`` the x/z centre of :func:`unproject`'s points.

Normal metrics follow the surface-normal literature (Fouhey et al. 2013; Eigen and Fergus 2015): angles pooled over
all valid pixels, mean and median in degrees and the fraction within 11.25, 22.5 and 30 degrees. Depth alignment is
MiDaS's closed-form least-squares scale and shift per image (Ranftl et al. 2020, arXiv 1907.01341, eq. 4).
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DEPTH_KINDS", "NORMAL_THRESHOLDS", "Reprojection", "align_scale_shift", "angular_error_map", "depth_errors",
    "multiview_consistency", "normal_angular_error", "normals_from_depth", "pinhole_intrinsics", "project",
    "reproject", "sphere_cam2world", "unproject",
]

NORMAL_THRESHOLDS = (11.25, 22.5, 30.0)  # degrees (Fouhey et al. 2013)
DELTA_THRESHOLD = 1.25  # delta < 1.25 (Eigen et al. 2014)
DEPTH_KINDS = ("z", "ray")
CAMERAS = ("opengl", "opencv")
EPS = 1e-6


def _check(x: Tensor, channels: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must be (B, {channels}, H, W), got {tuple(x.shape)}")


def _mask(mask: Tensor | None, like: Tensor) -> Tensor:
    """Boolean ``(B, 1, H, W)`` (all True when ``mask`` is None; ``> 0.5`` for float masks)."""
    if mask is None:
        return torch.ones_like(like[:, :1], dtype=torch.bool)
    _check(mask, 1, "mask")
    return mask if mask.dtype == torch.bool else mask > 0.5


# ---------------------------------------------------------------------------------------------- cameras
def pinhole_intrinsics(fov_degrees: float, height: int, width: int | None = None) -> Tensor:
    """Pixel intrinsics of a full field of view in pi-GAN's pixel layout.

    The centres of the first and last pixel sit on the image edges ``-1`` and ``+1``, so
    ``f = (W - 1) / 2 / tan(fov / 2)`` and ``c = (W - 1) / 2``.

    Returns:
        ``K`` ``(3, 3)``, equal to ``gen3d.models.rendering.intrinsics_from_fov(fov, (H, W))``.
    """
    width = height if width is None else width
    f = 1.0 / math.tan(math.radians(fov_degrees) / 2)
    return torch.tensor([[f * (width - 1) / 2, 0.0, (width - 1) / 2], [0.0, f * (height - 1) / 2, (height - 1) / 2],
                         [0.0, 0.0, 1.0]])


def sphere_cam2world(yaw: Tensor, pitch: Tensor, radius: float = 1.0) -> Tensor:
    """Cameras on a sphere looking at the origin, world ``+y`` up (pi-GAN's convention, OpenGL camera).

    Args:
        yaw: ``(B,)`` radians about ``+y``; ``yaw = pitch = pi / 2`` is the camera on ``+z``.
        pitch: ``(B,)`` polar angle from ``+y``.
        radius: Sphere radius.

    Returns:
        ``(B, 4, 4)``, equal to ``gen3d.models.rendering.pose_to_cam2world(yaw, pitch, radius)``.
    """
    origin = torch.stack([pitch.sin() * yaw.cos(), pitch.cos(), pitch.sin() * yaw.sin()], -1) * radius
    back = F.normalize(origin, dim=-1)  # camera +z points away from the target
    up_world = torch.tensor([0.0, 1.0, 0.0], dtype=origin.dtype, device=origin.device).expand_as(origin)
    right = F.normalize(torch.linalg.cross(up_world, back), dim=-1)
    up = F.normalize(torch.linalg.cross(back, right), dim=-1)
    top = torch.cat([torch.stack([right, up, back], -1), origin[:, :, None]], -1)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device).expand(len(top), 1, 4)
    return torch.cat([top, bottom], 1)


def _batched_k(intrinsics: Tensor, b: int, like: Tensor) -> Tensor:
    k = intrinsics.to(device=like.device, dtype=like.dtype)
    return k.expand(b, 3, 3) if k.dim() == 2 else k


def _flip(camera: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Signs taking camera coordinates to the OpenCV frame ``K`` applies to."""
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
    return torch.tensor([1.0, -1.0, -1.0] if camera == "opengl" else [1.0, 1.0, 1.0], dtype=dtype, device=device)


def unproject(depth: Tensor, intrinsics: Tensor, depth_kind: str = "z", camera: str = "opengl") -> Tensor:
    """Camera-space points of every pixel of a depth map.

    Args:
        depth: ``(B, 1, H, W)``.
        intrinsics: ``K`` ``(3, 3)`` or ``(B, 3, 3)``, pixels.
        depth_kind: ``'z'`` (planar) or ``'ray'`` (along the unit ray).
        camera: ``'opengl'`` or ``'opencv'``.

    Returns:
        Points ``(B, H, W, 3)``.
    """
    _check(depth, 1, "depth")
    if depth_kind not in DEPTH_KINDS:
        raise ValueError(f"depth_kind must be one of {DEPTH_KINDS}, got {depth_kind!r}")
    b, _, h, w = depth.shape
    k = _batched_k(intrinsics, b, depth)
    v, u = torch.meshgrid(torch.arange(h, dtype=depth.dtype, device=depth.device),
                          torch.arange(w, dtype=depth.dtype, device=depth.device), indexing="ij")
    x = (u - k[:, None, None, 0, 2]) / k[:, None, None, 0, 0]  # (B, H, W)
    y = (v - k[:, None, None, 1, 2]) / k[:, None, None, 1, 1]
    rays = torch.stack([x, y, torch.ones_like(x)], -1)  # OpenCV frame, z = 1
    if depth_kind == "ray":
        rays = rays / rays.norm(dim=-1, keepdim=True)
    return depth[:, 0, :, :, None] * rays * _flip(camera, depth.dtype, depth.device)


def project(points: Tensor, intrinsics: Tensor, camera: str = "opengl") -> tuple[Tensor, Tensor]:
    """Pixel coordinates of camera-space points.

    Args:
        points: ``(B, N, 3)``.
        intrinsics: ``K`` ``(3, 3)`` or ``(B, 3, 3)``.
        camera: ``'opengl'`` or ``'opencv'``.

    Returns:
        ``(uv (B, N, 2), z (B, N))``: column/row and the depth along the optical axis (``> 0`` in front).
    """
    p = points * _flip(camera, points.dtype, points.device)
    z = p[..., 2]
    k = _batched_k(intrinsics, points.shape[0], points)
    pix = torch.einsum("bij,bnj->bni", k, p / z.clamp_min(EPS)[..., None])
    return pix[..., :2], z


class Reprojection(NamedTuple):
    """Where the pixels of view A land in view B.

    Attributes:
        grid: ``(B, H, W, 2)`` normalised ``(x, y)`` for ``grid_sample(..., align_corners=True)`` on B's maps.
        depth: ``(B, 1, H, W)`` depth of A's points seen from B (same ``depth_kind``).
        valid: ``(B, 1, H, W)`` bool: in front of B and inside its image.
        uv: ``(B, H, W, 2)`` pixel coordinates in B.
    """

    grid: Tensor
    depth: Tensor
    valid: Tensor
    uv: Tensor


def reproject(depth_a: Tensor, cam2world_a: Tensor, cam2world_b: Tensor, intrinsics: Tensor,
              depth_kind: str = "z", camera: str = "opengl") -> Reprojection:
    """Unproject A's pixels with its depth, move them by ``world2cam_b @ cam2world_a``, project into B.

    Args:
        depth_a: ``(B, 1, H, W)``.
        cam2world_a: ``(B, 4, 4)``.
        cam2world_b: ``(B, 4, 4)``.
        intrinsics: ``K`` ``(3, 3)`` or ``(B, 3, 3)``, shared by both views.
        depth_kind: ``'z'`` or ``'ray'``.
        camera: ``'opengl'`` or ``'opencv'``.

    Returns:
        :class:`Reprojection`.
    """
    b, _, h, w = depth_a.shape
    points = unproject(depth_a, intrinsics, depth_kind, camera).reshape(b, h * w, 3)
    a_to_b = torch.linalg.inv(cam2world_b.to(points.dtype)) @ cam2world_a.to(points.dtype)
    points_b = torch.einsum("bij,bnj->bni", a_to_b[:, :3, :3], points) + a_to_b[:, None, :3, 3]
    uv, z = project(points_b, intrinsics, camera)
    depth_b = z if depth_kind == "z" else points_b.norm(dim=-1)
    u, v = uv.unbind(-1)
    valid = (z > EPS) & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    grid = torch.stack([2 * u / max(w - 1, 1) - 1, 2 * v / max(h - 1, 1) - 1], -1)
    return Reprojection(grid.reshape(b, h, w, 2), depth_b.reshape(b, 1, h, w), valid.reshape(b, 1, h, w),
                        uv.reshape(b, h, w, 2))


def _zbuffer_visible(rep: Reprojection, valid: Tensor, tol: float) -> Tensor:
    """A's pixels that are the nearest of A's own points landing on their B pixel (self-occlusion of A's surface)."""
    b, _, h, w = rep.depth.shape
    u = rep.uv[..., 0].round().clamp(0, w - 1).long()
    v = rep.uv[..., 1].round().clamp(0, h - 1).long()
    index = (v * w + u).reshape(b, -1)
    depth = torch.where(valid, rep.depth, torch.full_like(rep.depth, math.inf)).reshape(b, -1)
    zbuf = torch.full_like(depth, math.inf).scatter_reduce(1, index, depth, reduce="amin")
    return valid & (depth <= zbuf.gather(1, index) * (1 + tol)).reshape(b, 1, h, w)


def multiview_consistency(img_a: Tensor, depth_a: Tensor, img_b: Tensor, depth_b: Tensor, cam2world_a: Tensor,
                          cam2world_b: Tensor, intrinsics: Tensor, mask_a: Tensor | None = None,
                          depth_kind: str = "z", camera: str = "opengl", occlusion: str = "zbuffer",
                          occlusion_tol: float = 0.02) -> dict[str, Tensor]:
    """Reprojection error of view A against view B of one scene (one latent at two poses).

    A's pixels are warped into B with A's depth; B's image and depth are sampled bilinearly there. Valid pixels are
    in A's mask, have depth ``> 0``, are in front of B, inside B, and (``occlusion='zbuffer'``) not hidden in B behind
    another of A's points (z-buffer of A's reprojected points, relative tolerance ``occlusion_tol``). The occlusion
    test uses A's geometry only, so the depth error is not biased by discarding the pixels where B's depth disagrees.

    Args:
        img_a: ``(B, C, H, W)``, any range (the error is in the same units).
        depth_a: ``(B, 1, H, W)``.
        img_b: ``(B, C, H, W)``.
        depth_b: ``(B, 1, H, W)``.
        cam2world_a: ``(B, 4, 4)``.
        cam2world_b: ``(B, 4, 4)``.
        intrinsics: ``K`` ``(3, 3)`` or ``(B, 3, 3)``.
        mask_a: Optional ``(B, 1, H, W)`` foreground of A (bool, or float thresholded at 0.5).
        depth_kind: ``'z'`` or ``'ray'``.
        camera: ``'opengl'`` or ``'opencv'``.
        occlusion: ``'zbuffer'`` or ``'none'``.
        occlusion_tol: Relative depth slack of the z-buffer test.

    Returns:
        Per image, each ``(B,)``: ``photometric_l1`` (mean over valid pixels and channels of
        ``|img_a - warp(img_b)|``), ``depth_rel_error`` (mean ``|d_ab - warp(depth_b)| / d_ab``, ``d_ab`` the depth
        of A's points seen from B), ``valid_fraction`` and ``num_valid`` (pixels); 0 errors where nothing is valid.
    """
    _check(img_a, img_a.shape[1], "img_a")
    if img_b.shape != img_a.shape or depth_b.shape != depth_a.shape:
        raise ValueError(f"views differ in shape: {tuple(img_a.shape)} {tuple(img_b.shape)} "
                         f"{tuple(depth_a.shape)} {tuple(depth_b.shape)}")
    if occlusion not in ("zbuffer", "none"):
        raise ValueError(f"occlusion must be 'zbuffer' or 'none', got {occlusion!r}")
    rep = reproject(depth_a, cam2world_a, cam2world_b, intrinsics, depth_kind, camera)
    valid = rep.valid & _mask(mask_a, depth_a) & (depth_a > EPS)  # depth 0: no surface (an empty render)
    if occlusion == "zbuffer":
        valid = _zbuffer_visible(rep, valid, occlusion_tol)
    grid = rep.grid.to(img_b.dtype)
    warped_img = F.grid_sample(img_b, grid, mode="bilinear", padding_mode="border", align_corners=True)
    warped_depth = F.grid_sample(depth_b, grid.to(depth_b.dtype), mode="bilinear", padding_mode="border",
                                 align_corners=True)
    m = valid.to(img_a.dtype)
    n = m.flatten(1).sum(1)
    photo = ((img_a - warped_img).abs().mean(1, keepdim=True) * m).flatten(1).sum(1) / n.clamp_min(1)
    rel = (rep.depth - warped_depth).abs() / rep.depth.abs().clamp_min(EPS)
    rel = (torch.where(valid, rel, torch.zeros_like(rel)) * m).flatten(1).sum(1) / n.clamp_min(1)
    return {"photometric_l1": photo, "depth_rel_error": rel, "valid_fraction": n / m[0].numel(), "num_valid": n}


# ---------------------------------------------------------------------------------------------- normals
def normals_from_depth(depth: Tensor, intrinsics: Tensor, depth_kind: str = "z", camera: str = "opengl") -> Tensor:
    """Unit camera-space normals of a depth map by central differences, facing the camera (GeoD's construction).

    Args:
        depth: ``(B, 1, H, W)``, ``H, W >= 3``.
        intrinsics: ``K`` ``(3, 3)`` or ``(B, 3, 3)``.
        depth_kind: ``'z'`` or ``'ray'``.
        camera: ``'opengl'`` or ``'opencv'``.

    Returns:
        ``(B, 3, H, W)``: interior pixels as ``gen3d.models.rendering.normals_from_depth``, border pixels zero
        (invalid for :func:`normal_angular_error`).
    """
    p = unproject(depth, intrinsics, depth_kind, camera)  # (B, H, W, 3)
    t_x = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]  # along the columns
    t_y = p[:, :-2, 1:-1] - p[:, 2:, 1:-1]  # up the rows
    n = F.normalize(torch.linalg.cross(t_x, t_y), dim=-1).permute(0, 3, 1, 2)  # towards the camera in both frames
    return F.pad(n, (1, 1, 1, 1))


def angular_error_map(pred: Tensor, gt: Tensor) -> Tensor:
    """Angle between normals, degrees, by ``atan2(|a x b|, a . b)`` (exact near 0, unlike ``acos``).

    Args:
        pred: ``(B, 3, H, W)`` (need not be unit length).
        gt: ``(B, 3, H, W)``.

    Returns:
        ``(B, 1, H, W)`` in ``[0, 180]``.
    """
    _check(pred, 3, "pred")
    _check(gt, 3, "gt")
    a, b = F.normalize(pred.double(), dim=1), F.normalize(gt.double(), dim=1)
    cross = torch.linalg.cross(a, b, dim=1).norm(dim=1, keepdim=True)
    return torch.rad2deg(torch.atan2(cross, (a * b).sum(1, keepdim=True))).to(pred.dtype)


def normal_valid(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """``(B, 1, H, W)`` bool: in ``mask`` and both normals non-zero (zero normals mark missing ground truth)."""
    nonzero = (pred.abs().sum(1, keepdim=True) > EPS) & (gt.abs().sum(1, keepdim=True) > EPS)
    return _mask(mask, pred) & nonzero


def normal_angular_error(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> dict[str, float]:
    """Surface-normal error pooled over the valid pixels of the batch.

    Args:
        pred: ``(B, 3, H, W)`` normals.
        gt: ``(B, 3, H, W)``; zero vectors are ignored.
        mask: Optional ``(B, 1, H, W)``.

    Returns:
        ``mean`` and ``median`` (degrees), ``within_11_25``, ``within_22_5``, ``within_30`` (fractions in
        ``[0, 1]``) and ``count`` (valid pixels); NaN errors when no pixel is valid.
    """
    angles = angular_error_map(pred, gt)[normal_valid(pred, gt, mask)].double()
    out = {"mean": angles.mean().item(), "median": angles.median().item() if angles.numel() else math.nan}
    for t in NORMAL_THRESHOLDS:
        out[f"within_{t:g}".replace(".", "_")] = (angles < t).double().mean().item()
    out["count"] = int(angles.numel())
    return out


# ---------------------------------------------------------------------------------------------- depth
def align_scale_shift(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Least-squares ``s, t`` per image minimising ``sum_mask (s * pred + t - gt)^2`` (MiDaS eq. 4), closed form.

    An image whose valid prediction is constant (or has < 2 valid pixels) gets ``s = 0, t = mean(gt)``.

    Args:
        pred: ``(B, 1, H, W)``.
        gt: ``(B, 1, H, W)``.
        mask: Optional ``(B, 1, H, W)``.

    Returns:
        ``(aligned (B, 1, H, W), scale (B,), shift (B,))``.
    """
    _check(pred, 1, "pred")
    _check(gt, 1, "gt")
    m = _mask(mask, pred).double().flatten(1)
    p, g = pred.double().flatten(1), gt.double().flatten(1)
    a00, a01, a11 = (m * p * p).sum(1), (m * p).sum(1), m.sum(1)
    b0, b1 = (m * p * g).sum(1), (m * g).sum(1)
    det = a00 * a11 - a01 * a01
    ok = det > 1e-12 * (a00 * a11).clamp_min(1e-300)
    safe = torch.where(ok, det, torch.ones_like(det))
    scale = torch.where(ok, (a11 * b0 - a01 * b1) / safe, torch.zeros_like(det))
    shift = torch.where(ok, (a00 * b1 - a01 * b0) / safe, b1 / a11.clamp_min(1))
    aligned = scale[:, None, None, None] * pred.double() + shift[:, None, None, None]
    return aligned.to(pred.dtype), scale.to(pred.dtype), shift.to(pred.dtype)


def depth_errors(pred: Tensor, gt: Tensor, mask: Tensor | None = None, align: bool = True) -> dict[str, Tensor]:
    """Per-image depth errors after optional scale-and-shift alignment, over valid pixels (in mask, ``gt > 0``).

    Args:
        pred: ``(B, 1, H, W)`` depth (any scale and offset when ``align``).
        gt: ``(B, 1, H, W)`` depth; ``gt <= 0`` is missing.
        mask: Optional ``(B, 1, H, W)``.
        align: Fit :func:`align_scale_shift` on the valid pixels first.

    Returns:
        Each ``(B,)``: ``absrel`` (mean ``|d - d*| / d*``), ``rmse``, ``delta1`` (fraction with
        ``max(d / d*, d* / d) < 1.25``; aligned depths are clamped to ``> 0`` for it) and ``count``; NaN for an
        image without valid pixels.
    """
    valid = _mask(mask, pred) & (gt > EPS)
    if align:
        pred = align_scale_shift(pred, gt, valid)[0]
    m = valid.double().flatten(1)
    d, g = pred.double().flatten(1), gt.double().flatten(1).clamp_min(EPS)
    n = m.sum(1)
    absrel = (m * (d - g).abs() / g).sum(1) / n
    rmse = ((m * (d - g) ** 2).sum(1) / n).sqrt()
    dc = d.clamp_min(EPS)
    delta1 = (m * (torch.maximum(dc / g, g / dc) < DELTA_THRESHOLD).double()).sum(1) / n
    return {"absrel": absrel, "rmse": rmse, "delta1": delta1, "count": n}
