"""Surface normals of rendered geometry: from the depth map (GeoD) or from density gradients.

From depth, as ``VivianSZF/pof3d:training/triplane_autopose.py:get_normal_from_depth`` (the code its authors use for
GeoD, Shi et al. 2022, arXiv 2209.15637): unproject every pixel at the render fov, take central-difference tangents
along the image axes of the interior pixels, cross them, normalise; border pixels get ``(0, 0, 1)``. Here the
unprojection uses the renderer's own rays (:func:`gen3d.models.rendering.rays.camera_ray_directions`), and the
result is in OpenGL camera space (``x`` right, ``y`` up, ``z`` towards the viewer) with the tangents ordered so a
surface facing the camera gets ``+z``; that is pof3d's border value too. Its depth is planar (``z``) depth; pi-GAN's
rendered depth is the distance along unit rays, so both kinds are accepted.

From density, ``n = normalize(-sum_i w_i grad sigma(x_i))`` (the density-gradient variant named in GeoD's framework),
by autograd: world space, and not part of an ONNX graph.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .cameras import _cross
from .rays import camera_ray_directions

DEPTH_KINDS = ("ray", "z")
NORMAL_EPS = 1e-7  # pof3d get_normal_from_depth: normal / (||normal|| + 1e-7)


def unproject_depth(depth: Tensor, fov_degrees: float, depth_kind: str = "ray") -> Tensor:
    """Camera-space points of a depth map.

    Args:
        depth: ``(B, 1, H, W)`` or ``(B, H, W)``; distance along the ray (``"ray"``) or planar depth ``-z``
            (``"z"``).
        fov_degrees: Full field of view of the render.
        depth_kind: One of :data:`DEPTH_KINDS`.

    Returns:
        Points ``(B, H, W, 3)``.
    """
    if depth.dim() == 4:
        depth = depth[:, 0]
    if depth_kind not in DEPTH_KINDS:
        raise ValueError(f"depth_kind {depth_kind!r} is not one of {DEPTH_KINDS}")
    b, h, w = depth.shape
    dirs = camera_ray_directions((h, w), fov_degrees, device=depth.device, dtype=depth.dtype).reshape(h, w, 3)
    if depth_kind == "z":
        dirs = dirs / -dirs[..., 2:]
    return depth[..., None] * dirs


def normals_from_depth(depth: Tensor, fov_degrees: float, depth_kind: str = "ray",
                       cam2world: Tensor | None = None) -> Tensor:
    """Unit normals of a depth map by finite differences (interior pixels; the border is ``(0, 0, 1)``).

    Args:
        depth: ``(B, 1, H, W)`` or ``(B, H, W)``, ``H, W >= 3``.
        fov_degrees: Full field of view of the render.
        depth_kind: ``"ray"`` (pi-GAN's ``sum w_i t_i``) or ``"z"``.
        cam2world: Optional ``(B, 4, 4)``; when given the normals are rotated to world space.

    Returns:
        Normals ``(B, 3, H, W)``, camera space unless ``cam2world`` is given.
    """
    points = unproject_depth(depth, fov_degrees, depth_kind)  # (B, H, W, 3)
    b, h, w, _ = points.shape
    t_x = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]  # along +x (columns)
    t_y = points[:, :-2, 1:-1] - points[:, 2:, 1:-1]  # along +y (rows upwards)
    interior = _cross(t_x, t_y).permute(0, 3, 1, 2)  # (B, 3, H - 2, W - 2)
    ring = 1 - F.pad(torch.ones_like(interior[:1, :1]), (1, 1, 1, 1))  # (1, 1, H, W): 1 on the border
    border = torch.cat([torch.zeros_like(ring), torch.zeros_like(ring), ring], 1)
    normal = F.pad(interior, (1, 1, 1, 1)) + border
    normal = normal / (normal.norm(dim=1, keepdim=True) + NORMAL_EPS)
    if cam2world is not None:
        normal = torch.einsum("bij,bjhw->bihw", cam2world[:, :3, :3], normal)
    return normal


def density_gradient(sigma: Tensor, points: Tensor, create_graph: bool = True) -> Tensor:
    """Gradient of the density at each sample by autograd.

    ``sigma`` must have been computed from ``points`` (a tensor that requires grad) point by point, so that the
    gradient of ``sigma.sum()`` gives each sample's own gradient.

    Args:
        sigma: Raw densities ``(B, R, S, 1)`` or ``(B, R, S)``.
        points: Sample points ``(B, R, S, 3)`` that ``sigma`` was computed from.
        create_graph: Keep the graph so that a loss on the normals trains the representer.

    Returns:
        ``grad sigma`` ``(B, R, S, 3)``.
    """
    if not sigma.requires_grad:  # a field that ignores its points (piecewise constant in a test, say)
        return torch.zeros_like(points)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(sigma.sum(), points, create_graph=create_graph, materialize_grads=True)
    return grad


def composite_normals(grad: Tensor, weights: Tensor) -> Tensor:
    """Composited unit normals ``normalize(-sum_i w_i grad_i)``.

    Args:
        grad: Density gradients ``(B, R, S, 3)``.
        weights: Compositing weights ``(B, R, S)``.

    Returns:
        Unit normals ``(B, R, 3)``, in the space of ``grad``.
    """
    n = -(weights[..., None] * grad).sum(-2)
    return n / (n.norm(dim=-1, keepdim=True) + NORMAL_EPS)


def normals_from_density(sigma: Tensor, points: Tensor, weights: Tensor, create_graph: bool = True) -> Tensor:
    """World-space normals from density gradients (:func:`density_gradient` then :func:`composite_normals`).

    Args:
        sigma: Raw densities ``(B, R, S, 1)`` or ``(B, R, S)``, computed from ``points``.
        points: Sample points ``(B, R, S, 3)``.
        weights: Compositing weights ``(B, R, S)``.
        create_graph: Keep the graph for a loss on the normals.

    Returns:
        Unit normals ``(B, R, 3)``.
    """
    return composite_normals(density_gradient(sigma, points, create_graph), weights)


def world_to_camera_normals(normals: Tensor, cam2world: Tensor) -> Tensor:
    """Rotate world-space normals into camera space.

    Args:
        normals: ``(B, R, 3)``.
        cam2world: ``(B, 4, 4)``.

    Returns:
        ``(B, R, 3)``.
    """
    return torch.einsum("bji,brj->bri", cam2world[:, :3, :3], normals)
