"""Volume renderer: point sampler -> point representer -> point integrator.

The split is Carver's (``qiuyu96/Carver:models/rendering/``); the two-pass hierarchical sampling is pi-GAN's
(``marcoamonteiro/pi-GAN:generators/generators.py``, ``ImplicitGenerator3d.forward``).

The representer is any callable ``(points (B, R, S, 3), directions (B, R, S, 3)) -> (rgb (B, R, S, 3),
sigma (B, R, S, 1))``, e.g. a closure over a generator's latent codes. The renderer has no parameters and no
Python branch on tensor values; with ``noise_std=0``, no jitter and deterministic fine sampling (the defaults in
``eval()``) it is deterministic and exports to ONNX together with its representer.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .integrator import DELTA_INF, composite
from .normals import composite_normals, density_gradient, normals_from_depth, world_to_camera_normals
from .point_sampler import hierarchical_depths, merge_by_depth, points_along_rays, stratified_depths
from .rays import _hw, rays_to_image, world_rays

Representer = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
NORMAL_SOURCES = ("depth", "density", "none")
OPACITY_EPS = 0.05  # depth normals: opacity below this counts as this (a ray that stops nowhere gets ray_start,
# and float noise in sum w t is amplified at most 20x: the ONNX parity gate of 1e-4 holds)


class RenderOutput(NamedTuple):
    """What :class:`VolumeRenderer` returns.

    Attributes:
        image: Composited colour ``(B, 3, H, W)`` in the representer's range.
        depth: ``sum w_i t_i`` ``(B, 1, H, W)``.
        opacity: ``sum w_i`` ``(B, 1, H, W)``.
        normal: Camera-space unit normals ``(B, 3, H, W)``, or ``None`` with ``normals='none'``.
        weights: Compositing weights of all samples ``(B, H * W, S_total)``.
        depths: Their depths ``(B, H * W, S_total)``, sorted.
    """

    image: Tensor
    depth: Tensor
    opacity: Tensor
    normal: Tensor | None
    weights: Tensor
    depths: Tensor


class VolumeRenderer(nn.Module):
    """Render images, depth, opacity and normals of a radiance field seen from a batch of cameras.

    Args:
        resolution: Output size ``H`` (square) or ``(H, W)``.
        fov: Full field of view, degrees.
        ray_start: Near depth along unit rays.
        ray_end: Far depth.
        num_steps: Coarse samples per ray ``S``.
        hierarchical: Add fine samples drawn from the coarse weights (pi-GAN ``hierarchical_sample``).
        num_fine: Fine samples per ray; ``None`` means ``num_steps`` (pi-GAN).
        clamp_mode: Density activation, ``"relu"`` (pi-GAN) or ``"softplus"``.
        white_back: White background.
        last_back: Give the missing opacity to the last sample.
        delta_inf: Length of the last interval.
        normals: ``"depth"`` (finite differences of the depth where rays stop, ``sum w t / opacity``; the ``depth``
            output stays ``sum w t``), ``"density"`` (autograd, not exportable) or ``"none"``.
    """

    def __init__(self, resolution: int | tuple[int, int] = 64, fov: float = 12.0, ray_start: float = 0.88,
                 ray_end: float = 1.12, num_steps: int = 12, hierarchical: bool = True, num_fine: int | None = None,
                 clamp_mode: str = "relu", white_back: bool = False, last_back: bool = False,
                 delta_inf: float = DELTA_INF, normals: str = "depth") -> None:
        super().__init__()
        if normals not in NORMAL_SOURCES:
            raise ValueError(f"normals {normals!r} is not one of {NORMAL_SOURCES}")
        if num_steps < 3:
            raise ValueError(f"num_steps must be at least 3, got {num_steps}")
        self.resolution = _hw(resolution)
        self.fov, self.ray_start, self.ray_end = float(fov), float(ray_start), float(ray_end)
        self.num_steps, self.hierarchical = int(num_steps), bool(hierarchical)
        self.num_fine = int(num_steps if num_fine is None else num_fine)
        self.clamp_mode, self.white_back, self.last_back = clamp_mode, white_back, last_back
        self.delta_inf, self.normals = float(delta_inf), normals

    def extra_repr(self) -> str:
        """Sizes shown by ``print(renderer)``."""
        return (f"resolution={self.resolution}, fov={self.fov}, rays=({self.ray_start}, {self.ray_end}), "
                f"steps={self.num_steps}+{self.num_fine if self.hierarchical else 0}, normals={self.normals}")

    def _query(self, representer: Representer, points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Run the representer on ``(B, R, S, 3)`` points; with density normals also return ``grad sigma``."""
        if self.normals == "density" and not points.requires_grad:
            points = points.detach().requires_grad_(True)
        dirs = directions[:, :, None].expand_as(points)
        rgb, sigma = representer(points, dirs)
        if self.normals == "density":
            grad = density_gradient(sigma, points, create_graph=torch.is_grad_enabled())
        else:
            grad = torch.zeros_like(points[..., :0])  # (B, R, S, 0): nothing to carry
        return rgb, sigma, grad

    def forward(self, representer: Representer, cam2world: Tensor, noise_std: float = 0.0, jitter: bool | None = None,
                deterministic_fine: bool | None = None, lock_view_dependence: bool = False,
                generator: torch.Generator | None = None) -> RenderOutput:
        """Render.

        Args:
            representer: ``(points (B, R, S, 3), dirs (B, R, S, 3)) -> (rgb (B, R, S, 3), sigma (B, R, S, 1))``.
            cam2world: Camera-to-world matrices ``(B, 4, 4)``.
            noise_std: Density-noise std (pi-GAN ``nerf_noise``, see ``noise_std_schedule``).
            jitter: Jitter the coarse depths; ``None`` means ``self.training`` (pi-GAN always jitters).
            deterministic_fine: Evenly spaced inverse-CDF draws; ``None`` means ``not self.training`` (pi-GAN
                always draws at random).
            lock_view_dependence: Feed the fixed direction ``(0, 0, -1)`` to the colour branch (pi-GAN option).
            generator: Optional random generator for jitter, noise and fine draws.

        Returns:
            :class:`RenderOutput`.
        """
        jitter = self.training if jitter is None else jitter
        deterministic_fine = (not self.training) if deterministic_fine is None else deterministic_fine
        b = cam2world.shape[0]
        h, w = self.resolution
        origins, directions = world_rays(cam2world, self.resolution, self.fov)  # (B, R, 3)
        view_dirs = directions
        if lock_view_dependence:
            view_dirs = torch.zeros_like(directions) + torch.tensor([0.0, 0.0, -1.0], dtype=directions.dtype,
                                                                      device=directions.device)
        depths = stratified_depths(b, h * w, self.num_steps, self.ray_start, self.ray_end, jitter=jitter,
                                   generator=generator, device=cam2world.device, dtype=cam2world.dtype)
        rgb, sigma, grad = self._query(representer, points_along_rays(origins, directions, depths), view_dirs)
        if self.hierarchical:
            with torch.no_grad():
                coarse = composite(rgb, sigma, depths, noise_std=noise_std, clamp_mode=self.clamp_mode,
                                   delta_inf=self.delta_inf, generator=generator)
            fine_depths = hierarchical_depths(depths, coarse.weights, self.num_fine, deterministic=deterministic_fine,
                                              generator=generator)
            rgb_f, sigma_f, grad_f = self._query(representer, points_along_rays(origins, directions, fine_depths),
                                                 view_dirs)
            depths, rgb, sigma, grad = merge_by_depth(fine_depths, depths, (rgb_f, rgb), (sigma_f, sigma),
                                                      (grad_f, grad))
        out = composite(rgb, sigma, depths, noise_std=noise_std, clamp_mode=self.clamp_mode, delta_inf=self.delta_inf,
                        white_back=self.white_back, last_back=self.last_back, generator=generator)
        depth = rays_to_image(out.depth, self.resolution)
        normal = None
        if self.normals == "depth":  # of the depth where rays stop: sum w_i t_i / opacity, clamped to the ray range
            # (EG3D's ray marcher, which GeoD's pof3d renders with). ``depth`` itself stays pi-GAN's sum w_i t_i; both
            # agree where opacity is 1, while a partly transparent pixel (white_back, fading density) would pull
            # sum w_i t_i towards the camera and tilt the normals of the whole region (measured: section "CPU
            # numbers" of configs/geod/README.md).
            opacity = rays_to_image(out.opacity, self.resolution)
            stop = (depth / opacity.clamp_min(OPACITY_EPS)).clamp(self.ray_start, self.ray_end)
            normal = normals_from_depth(stop, self.fov, "ray")
        elif self.normals == "density":
            n_world = composite_normals(grad, out.weights)
            normal = rays_to_image(world_to_camera_normals(n_world, cam2world), self.resolution)
        return RenderOutput(rays_to_image(out.rgb, self.resolution), depth, rays_to_image(out.opacity, self.resolution),
                            normal, out.weights, depths)
