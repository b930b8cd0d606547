"""3D-aware generators (pi-GAN, DepthGAN): camera sweeps to GIF / MP4, depth and normal maps beside RGB, meshes.

Everything goes through the generator interface (:mod:`gen3d.models.gans.generator_output`) plus what a 3D-aware
generator adds: ``pose_dim > 0``, ``pose_distribution()`` (means, stds, radius, fov, ray range, and ``order``, the
pose's columns: ``['pitch', 'yaw']`` for pi-GAN, ``['yaw']`` for DepthGAN) and, for meshes, ``density(z, points)`` /
``query(z, points, directions)`` (:class:`PiGANGenerator`; DepthGAN renders depth maps, no density field, so it
sweeps yaw only and has no mesh). The colouring (depth near bright, normals ``(n + 1) / 2``) and the PLY writer are
the torch-free ones of :mod:`gen3d.runtime`, so a bundle and a checkpoint draw the same pictures.
"""

from __future__ import annotations

import math
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from gen3d.models.gans.sampling import generate_outputs, to_uint8
from gen3d.runtime.colormaps import geometry_panels
from gen3d.runtime.generation import pose_order
from gen3d.runtime.ply import write_ply

SWEEPS = ("yaw", "pitch", "both")
MESH_THRESHOLD = 10.0
"""Default density level of the mesh surface (relu(sigma)); pick it per model with ``--mesh-threshold``."""


def require_3d(gen: nn.Module, what: str, need: Sequence[str] = ("pose_distribution",)) -> None:
    """Raise a readable error when ``gen`` is not a 3D-aware generator with the attributes ``need``.

    Raises:
        ValueError: A 2D generator (``pose_dim == 0``) or one without ``need``.
    """
    missing = [a for a in need if not hasattr(gen, a)]
    if not int(getattr(gen, "pose_dim", 0)) or missing:
        extra = ", " + ", ".join(missing) if missing else ""
        raise ValueError(f"{what} needs a 3D-aware generator (camera poses{extra}"
                         f"); {type(gen).__name__} has pose_dim {int(getattr(gen, 'pose_dim', 0))}")


def check_3d_flags(gen: nn.Module, geometry: bool = False, sweep: str | None = None, mesh: int | None = None,
                   pitch_range: Sequence[float] | None = None) -> None:
    """Refuse, before anything is written, the ``tools/gan/generate.py`` 3D flags that ``gen`` cannot honour.

    Raises:
        ValueError: A 2D generator; ``--sweep pitch|both`` or ``--pitch-range`` without a pitch in the pose (DepthGAN);
            ``--mesh`` without a density field. The message names the flag.
    """
    require_3d(gen, "--geometry / --sweep / --mesh")
    name, order = type(gen).__name__, pose_order(gen.pose_distribution())
    if sweep in ("pitch", "both") and "pitch" not in order:
        raise ValueError(f"--sweep {sweep} needs a camera pitch: {name}'s pose is {order} (use --sweep yaw)")
    if sweep and pitch_range and "pitch" not in order:
        raise ValueError(f"--pitch-range: {name}'s pose is {order}, it has no pitch")
    if mesh and not hasattr(gen, "density"):
        raise ValueError(f"--mesh needs a density field (density(z, points), as pi-GAN's); {name} renders depth maps, "
                         "not a volume")


def sweep_poses(gen: nn.Module, frames: int = 36, sweep: str = "yaw", yaw_range: Sequence[float] | None = None,
                pitch_range: Sequence[float] | None = None) -> torch.Tensor:
    """A looping camera path: yaw and / or pitch go from the low end of their range to the high end and back.

    Args:
        gen: A 3D-aware generator (``pose_distribution()``).
        frames: Poses ``F``.
        sweep: ``'yaw'``, ``'pitch'`` or ``'both'`` (an ellipse around the mean camera).
        yaw_range: ``(lo, hi)`` radians; None is the mean +- 2 stds (normal) or +- the half range (uniform).
        pitch_range: The same for pitch.

    Returns:
        ``(F, P)`` poses, columns in ``pose_distribution()['order']``: ``(pitch, yaw)`` (pi-GAN), ``(yaw,)``
        (DepthGAN).

    Raises:
        ValueError: An unknown sweep, or a pitch sweep of a generator without pitch.
    """
    require_3d(gen, "a pose sweep")
    if sweep not in SWEEPS:
        raise ValueError(f"sweep must be one of {SWEEPS}, got {sweep!r}")
    d = gen.pose_distribution()
    order = pose_order(d)
    if sweep != "yaw" and "pitch" not in order:
        raise ValueError(f"a {sweep} sweep needs a camera pitch: {type(gen).__name__}'s pose is {order}")
    k = 2.0 if d["mode"] == "normal" else 1.0
    ylo, yhi = yaw_range or (d["yaw_mean"] - k * d["yaw_std"], d["yaw_mean"] + k * d["yaw_std"])
    plo, phi = pitch_range or (d["pitch_mean"] - k * d["pitch_std"], d["pitch_mean"] + k * d["pitch_std"])
    t = torch.arange(frames, dtype=torch.float64) / frames * 2 * math.pi
    ramp = (1 - torch.cos(t)) / 2  # 0 -> 1 -> 0: lo -> hi -> lo
    yaw = ylo + (yhi - ylo) * ramp if sweep != "pitch" else torch.full_like(t, (ylo + yhi) / 2)
    pitch = plo + (phi - plo) * ramp if sweep == "pitch" else torch.full_like(t, (plo + phi) / 2)
    if sweep == "both":
        pitch = (plo + phi) / 2 + (phi - plo) / 2 * torch.sin(t)
    angles = {"pitch": pitch, "yaw": yaw}
    return torch.stack([angles[a] for a in order], 1).float()


def geometry_maps(gen: nn.Module, z: torch.Tensor, pose: torch.Tensor, truncation_psi: float = 1.0,
                  batch_size: int = 8, geometry: bool = True, shared_depth: bool = False) -> np.ndarray:
    """Render latents at poses; RGB, or RGB | depth | normal side by side.

    Args:
        gen: A 3D-aware generator.
        z: Latents ``(N, z_dim)``.
        pose: Poses ``(N, pose_dim)``.
        truncation_psi: Truncation.
        batch_size: Renders per forward.
        geometry: Put depth (near bright, background black) and normals beside the RGB.
        shared_depth: One depth colour range over all N renders (a sweep's frames); False: per render.

    Returns:
        uint8 ``(N, H, K * W, 3)``, ``K`` = 1 or the maps present (up to 3).
    """
    out = generate_outputs(gen, z, None, pose, truncation_psi, "const", batch_size)
    maps = {"image": to_uint8(out.image).permute(0, 2, 3, 1).numpy()}
    if geometry:
        maps.update({k: v.permute(0, 2, 3, 1).numpy() for k, v in out.maps().items() if k != "image"})
    return geometry_panels(maps, shared_depth)


@torch.no_grad()
def density_grid(gen: nn.Module, z: torch.Tensor, resolution: int = 64, bounds: float | None = None,
                 truncation_psi: float = 1.0, chunk: int = 65536) -> tuple[np.ndarray, float]:
    """The density ``relu(sigma)`` of one latent on a cube ``[-bounds, bounds]^3``, queried in chunks.

    Args:
        gen: A generator with ``density(z, points)``.
        z: One latent ``(1, z_dim)``.
        resolution: Samples per axis ``R``.
        bounds: Half side; None is half the ray range (the volume pi-GAN's cameras see around the origin).
        truncation_psi: Truncation.
        chunk: Points per query.

    Returns:
        ``(grid (R, R, R) float32 indexed [x, y, z], bounds)``.
    """
    require_3d(gen, "a mesh", ("density",))
    d = gen.pose_distribution()
    bounds = float(bounds or (d["ray_end"] - d["ray_start"]) / 2)
    device = next(gen.parameters()).device
    axis = torch.linspace(-bounds, bounds, resolution)
    pts = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    vals = [gen.density(z[:1].to(device), pts[:, i:i + chunk].to(device), truncation_psi).cpu()
            for i in range(0, pts.shape[1], chunk)]
    return torch.cat(vals, 1).reshape(resolution, resolution, resolution).numpy(), bounds


@torch.no_grad()
def extract_mesh(gen: nn.Module, z: torch.Tensor, resolution: int = 64, threshold: float = MESH_THRESHOLD,
                 bounds: float | None = None, truncation_psi: float = 1.0, colors: bool = True) -> dict:
    """Marching cubes (``skimage.measure.marching_cubes``) on the density grid of one latent.

    Args:
        gen: A generator with ``density`` (and ``query`` for colours).
        z: One latent ``(1, z_dim)``.
        resolution: Grid samples per axis.
        threshold: Density level of the surface.
        bounds: Half side of the cube (see :func:`density_grid`).
        truncation_psi: Truncation.
        colors: Vertex colours from the colour branch, seen from the mean camera.

    Returns:
        ``{'vertices' (V, 3) float32 world units, 'faces' (F, 3) int64, 'colors' (V, 3) uint8 or None,
        'density_range' (min, max)}``.

    Raises:
        ValueError: The surface level is outside the grid's density range (nothing to mesh; the message says the
            range).
    """
    from skimage.measure import marching_cubes

    grid, bounds = density_grid(gen, z, resolution, bounds, truncation_psi)
    lo, hi = float(grid.min()), float(grid.max())
    if not lo < threshold < hi:
        raise ValueError(f"no surface at density {threshold:g}: the grid's density is in [{lo:.4g}, {hi:.4g}] "
                         f"(choose a level inside it)")
    step = 2 * bounds / (resolution - 1)
    verts, faces, _, _ = marching_cubes(grid, level=threshold, spacing=(step, step, step))
    verts = (verts - bounds).astype(np.float32)
    rgb = None
    if colors and hasattr(gen, "query"):
        d = gen.pose_distribution()
        p, y = d["pitch_mean"], d["yaw_mean"]
        eye = d["radius"] * torch.tensor([math.sin(p) * math.cos(y), math.cos(p), math.sin(p) * math.sin(y)])
        v = torch.from_numpy(verts)[None]
        dirs = torch.nn.functional.normalize(v - eye, dim=-1)
        device = next(gen.parameters()).device
        rgb = gen.query(z[:1].to(device), v.to(device), dirs.to(device), truncation_psi)[0][0].cpu().numpy()
        rgb = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    return {"vertices": verts, "faces": faces.astype(np.int64), "colors": rgb, "density_range": (lo, hi)}


def write_3d_outputs(gen: nn.Module, z: torch.Tensor, pose: torch.Tensor, out_dir: str, seeds: Sequence[int],
                     truncation_psi: float = 1.0, sweep: str | None = None, frames: int = 36,
                     yaw_range: Sequence[float] | None = None, pitch_range: Sequence[float] | None = None,
                     geometry: bool = False, mesh: int | None = None, mesh_threshold: float = MESH_THRESHOLD,
                     fps: int = 24, video_format: str = "gif", scale: int = 1) -> list[str]:
    """What ``tools/gan/generate.py`` writes for a 3D-aware generator; returns one line per file written.

    ``geometry.png`` (a row per seed: RGB | depth | normal at the seed's pose; DepthGAN: RGB | depth),
    ``sweep_<axis>_<seed>.gif|mp4`` (the first seed along :func:`sweep_poses`, with depth and normals beside it when
    ``geometry``; a generator without a density field (DepthGAN), whose depth is half its output, always shows the
    depth beside the RGB) and ``mesh_<seed>.ply`` (:func:`extract_mesh` at resolution ``mesh``).

    Raises:
        ValueError: A 2D generator, a flag the generator cannot honour (:func:`check_3d_flags`), or no surface at
            ``mesh_threshold``.
    """
    from gen3d.apis.gan_inference import make_grid, save_image, write_animation

    check_3d_flags(gen, geometry, sweep, mesh, pitch_range)
    lines = []
    if geometry:
        panels = geometry_maps(gen, z, pose, truncation_psi)  # (N, H, K * W, 3): K = 2 without normals (DepthGAN)
        grid = make_grid(panels.transpose(0, 3, 1, 2), 1).repeat(scale, 0).repeat(scale, 1)
        path = save_image(grid, osp.join(out_dir, "geometry.png"))
        maps = "RGB | depth (near bright)" + (" | normals" if panels.shape[2] > 2 * panels.shape[1] else "")
        lines.append(f"{maps} for {len(z)} seeds -> {path}")
    if sweep:
        poses = sweep_poses(gen, frames, sweep, yaw_range, pitch_range)
        with_maps = geometry or not hasattr(gen, "density")
        frames_arr = geometry_maps(gen, z[:1].expand(len(poses), -1), poses, truncation_psi, geometry=with_maps,
                                   shared_depth=True)  # one colour range: the depth does not flicker
        path = osp.join(out_dir, f"sweep_{sweep}_{int(seeds[0]):04d}.{video_format}")
        write_animation(frames_arr.transpose(0, 3, 1, 2), path, fps, scale)
        lines.append(f"{len(poses)} frames, {sweep} sweep of seed {seeds[0]} -> {path}")
    if mesh:
        m = extract_mesh(gen, z[:1], mesh, mesh_threshold, truncation_psi=truncation_psi)
        path = write_ply(osp.join(out_dir, f"mesh_{int(seeds[0]):04d}.ply"), m["vertices"], m["faces"], m["colors"])
        lines.append(f"mesh of seed {seeds[0]}: {len(m['vertices'])} vertices, {len(m['faces'])} faces "
                     f"(density {mesh_threshold:g} of [{m['density_range'][0]:.3g}, {m['density_range'][1]:.3g}], "
                     f"{mesh}^3 grid) -> {path}")
    return lines
