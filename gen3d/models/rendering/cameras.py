"""Camera poses on a sphere looking at the origin, as pi-GAN samples them (Chan et al. 2021, arXiv 2012.00926).

Conventions follow the official code (``marcoamonteiro/pi-GAN:generators/volumetric_rendering.py``,
``sample_camera_positions`` and ``create_cam2world_matrix``): world ``y`` is up; yaw ``theta`` turns about ``y``,
pitch ``phi`` is the polar angle from ``+y``; the camera sits at
``r * (sin(phi) cos(theta), cos(phi), sin(phi) sin(theta))`` and looks at the origin, so ``yaw = pitch = pi/2``
puts it on ``+z``. Camera space is OpenGL-like: ``x`` right, ``y`` up, the camera looks down ``-z``.

Everything is batched and built without in-place writes, so the functions trace and export.
"""

import math

import torch
from torch import Tensor

# pi-GAN sample_camera_positions defaults (generators/volumetric_rendering.py)
YAW_MEAN = math.pi * 0.5
PITCH_MEAN = math.pi * 0.5
CAMERA_RADIUS = 1.0
PITCH_EPS = 1e-5  # pitch clamped to [eps, pi - eps] (same file) so the look-at frame never degenerates
POSE_MODES = ("normal", "uniform", "sphere", "mean")


def sample_camera_angles(batch_size: int, mode: str = "normal", yaw_mean: float = YAW_MEAN,
                         pitch_mean: float = PITCH_MEAN, yaw_std: float = 0.3, pitch_std: float = 0.155,
                         generator: torch.Generator | None = None, device: torch.device | str | None = None,
                         dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Draw yaw and pitch angles (radians) for a batch of cameras.

    Modes (pi-GAN ``sample_dist``): ``"normal"`` (its ``'gaussian'``): ``N(mean, std)``; ``"uniform"``:
    ``mean + U(-std, std)``; ``"sphere"`` (its ``'spherical_uniform'``): yaw uniform as above and pitch with
    ``cos(pitch)`` uniform, so positions are uniform on the sphere's band (``pitch_std`` and ``pitch_mean`` are
    scaled by ``1 / pi`` into the ``v`` of ``pitch = arccos(1 - 2 v)`` as in the official code); ``"mean"``: the
    means. Pitch is clamped to ``[PITCH_EPS, pi - PITCH_EPS]``.

    Args:
        batch_size: Number of cameras ``B``.
        mode: One of :data:`POSE_MODES`.
        yaw_mean: Mean (or centre) of yaw.
        pitch_mean: Mean (or centre) of pitch.
        yaw_std: Standard deviation (normal) or half range (uniform, sphere) of yaw.
        pitch_std: Standard deviation (normal) or half range (uniform, sphere) of pitch.
        generator: Optional random generator.
        device: Device of the result.
        dtype: Floating dtype of the result.

    Returns:
        ``(yaw, pitch)``, each ``(B,)``.
    """
    kw = dict(generator=generator, device=device, dtype=dtype)
    if mode == "normal":
        yaw = torch.randn(batch_size, **kw) * yaw_std + yaw_mean
        pitch = torch.randn(batch_size, **kw) * pitch_std + pitch_mean
    elif mode == "uniform":
        yaw = (torch.rand(batch_size, **kw) - 0.5) * 2 * yaw_std + yaw_mean
        pitch = (torch.rand(batch_size, **kw) - 0.5) * 2 * pitch_std + pitch_mean
    elif mode == "sphere":
        yaw = (torch.rand(batch_size, **kw) - 0.5) * 2 * yaw_std + yaw_mean
        v = (torch.rand(batch_size, **kw) - 0.5) * 2 * (pitch_std / math.pi) + pitch_mean / math.pi
        pitch = torch.arccos(1 - 2 * v.clamp(PITCH_EPS, 1 - PITCH_EPS))
    elif mode == "mean":
        yaw = torch.full((batch_size,), yaw_mean, device=device, dtype=dtype)
        pitch = torch.full((batch_size,), pitch_mean, device=device, dtype=dtype)
    else:
        raise ValueError(f"pose mode {mode!r} is not one of {POSE_MODES}")
    return yaw, pitch.clamp(PITCH_EPS, math.pi - PITCH_EPS)


def camera_origins(yaw: Tensor, pitch: Tensor, radius: float | Tensor = CAMERA_RADIUS) -> Tensor:
    """Camera centres on the sphere of ``radius`` for the given angles.

    Args:
        yaw: Yaw ``(B,)``.
        pitch: Pitch (polar angle from ``+y``) ``(B,)``.
        radius: Sphere radius, a number or ``(B,)``.

    Returns:
        Origins ``(B, 3)``.
    """
    return torch.stack([torch.sin(pitch) * torch.cos(yaw), torch.cos(pitch), torch.sin(pitch) * torch.sin(yaw)],
                       -1) * (radius if isinstance(radius, float | int) else radius[:, None])


def _cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the last dimension written with slices (``torch.linalg.cross`` has no ONNX export)."""
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], -1)


def _normalize(v: Tensor, eps: float = 1e-12) -> Tensor:
    """Unit vectors over the last dimension."""
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


def look_at_cam2world(origins: Tensor, target: Tensor | None = None) -> Tensor:
    """Camera-to-world matrices of cameras at ``origins`` looking at ``target`` with world ``+y`` up, no roll.

    As pi-GAN's ``create_cam2world_matrix``: the columns of the rotation are ``(right, up, -forward)``, so camera
    ``-z`` maps to the viewing direction.

    Args:
        origins: Camera centres ``(B, 3)``.
        target: Look-at point ``(B, 3)`` or ``(3,)``; the world origin when ``None``.

    Returns:
        Homogeneous matrices ``(B, 4, 4)``.
    """
    forward = _normalize(-origins if target is None else target - origins)
    world_up = torch.zeros_like(forward) + torch.tensor([0.0, 1.0, 0.0], dtype=forward.dtype, device=forward.device)
    left = _normalize(_cross(world_up, forward))
    up = _normalize(_cross(forward, left))
    rotation = torch.stack([-left, up, -forward], -1)  # (B, 3, 3), columns right, up, back
    top = torch.cat([rotation, origins[:, :, None]], -1)  # (B, 3, 4)
    bottom = torch.zeros_like(top[:, :1]) + torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device)
    return torch.cat([top, bottom], 1)


def pose_to_cam2world(yaw: Tensor, pitch: Tensor, radius: float | Tensor = CAMERA_RADIUS) -> Tensor:
    """Camera-to-world matrices of cameras on the sphere looking at the origin.

    Args:
        yaw: Yaw ``(B,)``.
        pitch: Pitch ``(B,)``.
        radius: Sphere radius, a number or ``(B,)``.

    Returns:
        ``(B, 4, 4)``.
    """
    return look_at_cam2world(camera_origins(yaw, pitch, radius))


def focal_from_fov(fov_degrees: float) -> float:
    """Focal length in normalised image units (the image spans ``[-1, 1]``) of a full field of view.

    Args:
        fov_degrees: Full field of view across the image, in degrees.

    Returns:
        ``1 / tan(fov / 2)``.
    """
    return 1.0 / math.tan(math.radians(fov_degrees) / 2)


def intrinsics_from_fov(fov_degrees: float, resolution: int | tuple[int, int], normalized: bool = False) -> Tensor:
    """Pinhole intrinsics ``K`` of pi-GAN's cameras (OpenCV layout, principal point at the centre).

    pi-GAN puts the first and last pixel centres at ``-1`` and ``+1`` (``torch.linspace(-1, 1, W)``), so in pixels
    ``f = (W - 1) / 2 / tan(fov / 2)`` and ``c = (W - 1) / 2``. With ``normalized`` the image coordinates span
    ``[-1, 1]``: ``f = 1 / tan(fov / 2)`` and ``c = 0``.

    Args:
        fov_degrees: Full field of view, degrees.
        resolution: ``H`` (square) or ``(H, W)``.
        normalized: Return normalised instead of pixel units.

    Returns:
        ``K`` ``(3, 3)``.
    """
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    f = focal_from_fov(fov_degrees)
    if normalized:
        fx, fy, cx, cy = f, f, 0.0, 0.0
    else:
        fx, fy, cx, cy = f * (w - 1) / 2, f * (h - 1) / 2, (w - 1) / 2, (h - 1) / 2
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
