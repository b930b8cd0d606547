"""pi-GAN generator: FiLM-SIREN field + volume renderer (Chan et al. 2021, arXiv 2012.00926).

Official code: ``marcoamonteiro/pi-GAN:generators/generators.py`` (``ImplicitGenerator3d``: poses drawn per image,
coarse pass, fine pass from the coarse weights, merged compositing, image ``* 2 - 1``; truncation in frequency /
phase space around the means of 10000 mapped latents, ``generate_avg_frequencies``) and ``curriculums.py``
(``CelebA``: the defaults below). Depth is ``sum w_i t_i`` along unit rays; the normal is computed from that depth map
as GeoD does (:func:`gen3d.models.rendering.normals_from_depth`), or from density gradients.

Randomness: ``noise_mode='random'`` jitters the coarse depths and draws the fine depths at random (pi-GAN does both
in training and inference); ``noise_mode='const'`` does neither, so with ``noise_std=0`` and a given pose the output
is a deterministic function of ``z`` (export, validation). ``noise_std`` is the density noise, which the training
model sets from :func:`gen3d.models.rendering.noise_std_schedule`.
"""

import math

import torch
from torch import Tensor, nn

from gen3d.models.rendering import VolumeRenderer, camera_ray_directions, pose_to_cam2world, sample_camera_angles
from gen3d.registry import MODELS

from ..generator_output import GeneratorOutput
from .siren import FiLMSiren, PiGANMappingNetwork

# curriculums.py CelebA and siren.py SPATIALSIRENBASELINE
Z_DIM = 256  # 'latent_dim'
HIDDEN_DIM = 256
FILM_LAYERS = 8
MAPPING_HIDDEN = 256  # CustomMappingNetwork(z_dim, 256, ...)
IMG_RESOLUTION = 64  # 'img_size'
NUM_STEPS = 12  # 'num_steps' (+ as many fine samples, 'hierarchical_sample': True)
FOV = 12.0  # degrees
RAY_START, RAY_END = 0.88, 1.12
CAMERA_RADIUS = 1.0  # sample_camera_positions(r=1)
POSE_DIST = "normal"  # 'sample_dist': 'gaussian'
YAW_MEAN, PITCH_MEAN = math.pi * 0.5, math.pi * 0.5  # 'h_mean', 'v_mean'
YAW_STD, PITCH_STD = 0.3, 0.155  # 'h_stddev', 'v_stddev'
AVG_FREQ_SAMPLES = 10000  # generate_avg_frequencies
W_AVG_BETA = 0.995  # EMA of the house interface's update_w_avg (not in pi-GAN, which recomputes the mean)


@MODELS.register_module()
class PiGANGenerator(nn.Module):
    """pi-GAN generator.

    Args:
        z_dim: Latent size.
        hidden_dim: FiLM width.
        n_layers: FiLM layers of the density trunk.
        img_resolution: Output side.
        fov: Full field of view, degrees.
        ray_start: Near depth.
        ray_end: Far depth.
        num_steps: Coarse samples per ray.
        hierarchical: Add as many fine samples, drawn from the coarse weights.
        mapping_hidden: Width of the mapping network.
        pose_dist: Pose distribution, ``"normal"``, ``"uniform"``, ``"sphere"`` or ``"mean"``.
        yaw_mean: Yaw centre (radians).
        pitch_mean: Pitch centre.
        yaw_std: Yaw std or half range.
        pitch_std: Pitch std or half range.
        camera_radius: Distance of the camera from the origin.
        normals: ``"depth"`` (GeoD) or ``"density"`` (autograd; not exportable).
        depth_kind: ``"ray"`` (pi-GAN) or ``"z"`` (depth along the camera axis).
        white_back: White background (pi-GAN CARLA).
        last_back: Fill the missing opacity with the last sample (pi-GAN ``eval_last_back``).
        avg_samples: Latents averaged for the truncation centre at construction.
    """

    def __init__(self, z_dim: int = Z_DIM, hidden_dim: int = HIDDEN_DIM, n_layers: int = FILM_LAYERS,
                 img_resolution: int = IMG_RESOLUTION, fov: float = FOV, ray_start: float = RAY_START,
                 ray_end: float = RAY_END, num_steps: int = NUM_STEPS, hierarchical: bool = True,
                 mapping_hidden: int = MAPPING_HIDDEN, pose_dist: str = POSE_DIST, yaw_mean: float = YAW_MEAN,
                 pitch_mean: float = PITCH_MEAN, yaw_std: float = YAW_STD, pitch_std: float = PITCH_STD,
                 camera_radius: float = CAMERA_RADIUS, normals: str = "depth", depth_kind: str = "ray",
                 white_back: bool = False, last_back: bool = False, avg_samples: int = AVG_FREQ_SAMPLES) -> None:
        super().__init__()
        if normals not in ("depth", "density"):
            raise ValueError(f"normals must be 'depth' or 'density', got {normals!r}")
        if depth_kind not in ("ray", "z"):
            raise ValueError(f"depth_kind must be 'ray' or 'z', got {depth_kind!r}")
        self.z_dim, self.c_dim, self.pose_dim = z_dim, 0, 2
        self.img_resolution, self.img_channels = img_resolution, 3
        self.pose_dist, self.yaw_mean, self.pitch_mean = pose_dist, yaw_mean, pitch_mean
        self.yaw_std, self.pitch_std, self.camera_radius = yaw_std, pitch_std, camera_radius
        self.depth_kind = depth_kind
        self.siren = FiLMSiren(hidden_dim, n_layers)
        self.mapping = PiGANMappingNetwork(z_dim, mapping_hidden, self.siren.film_dim)
        self.renderer = VolumeRenderer(img_resolution, fov, ray_start, ray_end, num_steps, hierarchical=hierarchical,
                                       white_back=white_back, last_back=last_back, normals=normals)
        self.register_buffer("avg_frequencies", torch.zeros(1, self.siren.film_dim))
        self.register_buffer("avg_phase_shifts", torch.zeros(1, self.siren.film_dim))
        self.update_avg_frequencies(avg_samples)

    @torch.no_grad()
    def update_avg_frequencies(self, num_samples: int = AVG_FREQ_SAMPLES, seed: int = 0) -> None:
        """Set the truncation centre to the mean frequencies / phases of ``num_samples`` mapped latents.

        pi-GAN recomputes it before every truncated render; a training model calls this before validation. The
        latents come from a local generator seeded with ``seed``, so the global random state is untouched.

        Args:
            num_samples: Latents to average.
            seed: Seed of the latents.
        """
        g = torch.Generator().manual_seed(seed)
        device = self.avg_frequencies.device
        freq_sum = torch.zeros_like(self.avg_frequencies)
        phase_sum = torch.zeros_like(self.avg_phase_shifts)
        for start in range(0, num_samples, 1000):
            z = torch.randn(min(1000, num_samples - start), self.z_dim, generator=g).to(device)
            f, p = self.mapping(z)
            freq_sum += f.sum(0, keepdim=True)
            phase_sum += p.sum(0, keepdim=True)
        self.avg_frequencies.copy_(freq_sum / max(num_samples, 1))
        self.avg_phase_shifts.copy_(phase_sum / max(num_samples, 1))

    def sample_pose(self, batch_size: int, device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """Draw camera angles from the configured distribution (the GAN spine calls ``sample_pose(num, device)``).

        Args:
            batch_size: ``B``.
            device: Device of the result.
            generator: Optional random generator.

        Returns:
            ``(B, 2)``: ``(pitch, yaw)`` in radians, the order of pi-GAN's returned positions.
        """
        yaw, pitch = sample_camera_angles(batch_size, self.pose_dist, self.yaw_mean, self.pitch_mean, self.yaw_std,
                                          self.pitch_std, generator=generator, device=device)
        return torch.stack([pitch, yaw], -1)

    def cam2world(self, pose: Tensor) -> Tensor:
        """Camera matrices of ``(pitch, yaw)`` poses on the sphere of ``camera_radius``.

        Args:
            pose: ``(B, 2)`` angles, or ``(B, 4, 4)`` matrices (returned as they are).

        Returns:
            ``(B, 4, 4)``.
        """
        if pose.dim() == 3:
            return pose
        return pose_to_cam2world(pose[:, 1], pose[:, 0], self.camera_radius)

    @property
    def fov(self) -> float:
        """Full field of view of the rendered images, degrees."""
        return self.renderer.fov

    def pose_distribution(self) -> dict:
        """The camera model a 3D tool or an exported bundle needs: pose mode, means, stds, radius, fov, ray range.

        Returns:
            ``{'mode', 'order', 'yaw_mean', 'pitch_mean', 'yaw_std', 'pitch_std', 'radius', 'fov', 'ray_start',
            'ray_end', 'depth_kind'}`` (angles in radians, ``order`` is the pose layout ``('pitch', 'yaw')``).
        """
        return {"mode": self.pose_dist, "order": ["pitch", "yaw"], "yaw_mean": float(self.yaw_mean),
                "pitch_mean": float(self.pitch_mean), "yaw_std": float(self.yaw_std),
                "pitch_std": float(self.pitch_std), "radius": float(self.camera_radius), "fov": float(self.fov),
                "ray_start": self.renderer.ray_start, "ray_end": self.renderer.ray_end, "depth_kind": self.depth_kind}

    def codes(self, z: Tensor, truncation_psi: float | Tensor = 1.0) -> tuple[Tensor, Tensor]:
        """FiLM frequencies and phase shifts of latents, truncated towards the average codes.

        Args:
            z: ``(B, z_dim)``.
            truncation_psi: ``avg + psi * (code - avg)``.

        Returns:
            ``(frequencies, phase_shifts)``, each ``(B, film_dim)``.
        """
        frequencies, phase_shifts = self.mapping(z)
        if isinstance(truncation_psi, Tensor) or truncation_psi != 1:
            frequencies = self.avg_frequencies + truncation_psi * (frequencies - self.avg_frequencies)
            phase_shifts = self.avg_phase_shifts + truncation_psi * (phase_shifts - self.avg_phase_shifts)
        return frequencies, phase_shifts

    def query(self, z: Tensor, points: Tensor, directions: Tensor | None = None,
              truncation_psi: float | Tensor = 1.0) -> tuple[Tensor, Tensor]:
        """The field at world points, without rendering (meshing, vertex colours).

        Args:
            z: Latents ``(B, z_dim)``.
            points: World points ``(B, P, 3)``.
            directions: Unit view directions ``(B, P, 3)``; None looks along ``-z`` (the mean camera's axis).
            truncation_psi: Truncation of the codes.

        Returns:
            ``(rgb (B, P, 3) in [0, 1], sigma (B, P, 1))`` (raw sigma; rendering applies relu).
        """
        frequencies, phase_shifts = self.codes(z, truncation_psi)
        if directions is None:
            directions = torch.zeros_like(points)
            directions[..., 2] = -1
        return self.siren(points, directions, frequencies, phase_shifts)

    def density(self, z: Tensor, points: Tensor, truncation_psi: float | Tensor = 1.0) -> Tensor:
        """Volume density ``relu(sigma)`` at world points ``(B, P, 3)`` -> ``(B, P, 1)`` (marching cubes input)."""
        return torch.relu(self.query(z, points, truncation_psi=truncation_psi)[1])

    def forward(self, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None, *,
                truncation_psi: float | Tensor = 1.0, truncation_cutoff: int | None = None, noise_mode: str = "random",
                update_w_avg: bool = False, noise_std: float = 0.0,
                generator: torch.Generator | None = None) -> GeneratorOutput:
        """Render images of latents.

        Args:
            z: Latents ``(B, z_dim)``.
            c: Unused (unconditional); kept for the generator interface.
            pose: ``(B, 2)`` ``(pitch, yaw)`` or ``(B, 4, 4)`` cam2world; drawn with :meth:`sample_pose` if ``None``.
            truncation_psi: ``avg + psi * (code - avg)`` on frequencies and phases; a number or a ``(1,)`` tensor.
            truncation_cutoff: Unused (pi-GAN truncates every layer).
            noise_mode: ``"random"`` (jitter + random fine depths) or ``"const"`` (neither).
            update_w_avg: Move the truncation centre towards this batch's mean codes (EMA, training only).
            noise_std: Density-noise std.
            generator: Optional random generator for poses and sampling.

        Returns:
            :class:`~gen3d.models.gans.generator_output.GeneratorOutput` with ``image`` ``(B, 3, H, W)`` in
            ``[-1, 1]``, ``depth`` ``(B, 1, H, W)`` (``sum w_i t_i``, the distance along the ray, for
            ``depth_kind='ray'``; camera-axis depth for ``'z'``), ``normal`` (camera-space unit normals
            ``(B, 3, H, W)``) and ``mask`` (opacity ``sum w_i``, ``(B, 1, H, W)``).
        """
        frequencies, phase_shifts = self.mapping(z)
        if update_w_avg:
            with torch.no_grad():
                self.avg_frequencies.lerp_(frequencies.detach().mean(0, keepdim=True), 1 - W_AVG_BETA)
                self.avg_phase_shifts.lerp_(phase_shifts.detach().mean(0, keepdim=True), 1 - W_AVG_BETA)
        if isinstance(truncation_psi, Tensor) or truncation_psi != 1:
            frequencies = self.avg_frequencies + truncation_psi * (frequencies - self.avg_frequencies)
            phase_shifts = self.avg_phase_shifts + truncation_psi * (phase_shifts - self.avg_phase_shifts)
        if pose is None:
            pose = self.sample_pose(z.shape[0], z.device, generator=generator)
        cam2world = self.cam2world(pose.to(z.dtype))
        random = noise_mode == "random"

        def representer(points: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
            return self.siren(points, directions, frequencies, phase_shifts)

        out = self.renderer(representer, cam2world, noise_std=noise_std, jitter=random,
                            deterministic_fine=not random, generator=generator)
        depth = out.depth
        if self.depth_kind == "z":
            h, w = self.renderer.resolution
            dirs = camera_ray_directions((h, w), self.renderer.fov, device=depth.device, dtype=depth.dtype)
            depth = depth * -dirs[:, 2].reshape(1, 1, h, w)  # t * cos(angle to the axis)
        return GeneratorOutput(out.image * 2 - 1, depth=depth, normal=out.normal, mask=out.opacity)
