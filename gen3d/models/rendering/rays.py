"""Per-pixel rays of pinhole cameras, pi-GAN's layout (``generators/volumetric_rendering.py:get_initial_rays_trig``).

Pixel centres span ``[-1, 1]`` in both image axes (first and last pixel on the edges), row 0 at the top
(``y = +1``); the camera looks down ``-z`` with ``z = -1 / tan(fov / 2)``. Rays are ordered row-major, pixel
``(i, j)`` at index ``i * W + j``, so ``(B, H * W, C)`` reshapes to ``(B, H, W, C)``.
"""

import torch
from torch import Tensor

from .cameras import focal_from_fov


def _hw(resolution: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` of a square size or a pair."""
    return (resolution, resolution) if isinstance(resolution, int) else (int(resolution[0]), int(resolution[1]))


def camera_ray_directions(resolution: int | tuple[int, int], fov_degrees: float,
                          device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Unit ray directions in camera space.

    Args:
        resolution: ``H`` (square) or ``(H, W)``.
        fov_degrees: Full field of view across the image, degrees.
        device: Device of the result.
        dtype: Dtype of the result.

    Returns:
        Directions ``(H * W, 3)``.
    """
    h, w = _hw(resolution)
    y, x = torch.meshgrid(torch.linspace(1, -1, h, device=device, dtype=dtype),
                          torch.linspace(-1, 1, w, device=device, dtype=dtype), indexing="ij")
    z = torch.full_like(x, -focal_from_fov(fov_degrees))
    d = torch.stack([x, y, z], -1).reshape(h * w, 3)
    return d / d.norm(dim=-1, keepdim=True)


def world_rays(cam2world: Tensor, resolution: int | tuple[int, int], fov_degrees: float) -> tuple[Tensor, Tensor]:
    """Ray origins and unit directions in world space for a batch of cameras.

    Args:
        cam2world: Camera-to-world matrices ``(B, 4, 4)``.
        resolution: ``H`` (square) or ``(H, W)``.
        fov_degrees: Full field of view, degrees.

    Returns:
        ``(origins, directions)``, each ``(B, H * W, 3)``.
    """
    d_cam = camera_ray_directions(resolution, fov_degrees, device=cam2world.device, dtype=cam2world.dtype)
    directions = torch.einsum("bij,rj->bri", cam2world[:, :3, :3], d_cam)
    origins = cam2world[:, None, :3, 3].expand_as(directions)
    return origins, directions


def rays_to_image(values: Tensor, resolution: int | tuple[int, int]) -> Tensor:
    """Reshape per-ray values to an image batch.

    Args:
        values: ``(B, H * W, C)`` or ``(B, H * W)``.
        resolution: ``H`` (square) or ``(H, W)``.

    Returns:
        ``(B, C, H, W)`` (``C = 1`` for 2-D input).
    """
    h, w = _hw(resolution)
    if values.dim() == 2:
        values = values[..., None]
    return values.reshape(values.shape[0], h, w, values.shape[-1]).permute(0, 3, 1, 2)
