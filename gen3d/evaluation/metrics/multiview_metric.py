"""Multi-view consistency of a 3D-aware generator: one latent at two poses, view A warped into view B by A's depth.

The reprojection error of GeoD's evaluation (arXiv 2209.15637; same protocol family as
``qiuyu96/Carver:metrics/reprojection_error.py``) and of DepthGAN's RotEval (arXiv 2202.08553,
``VivianSZF/depthgan:metrics/rotation_metric.py``: masked L1 of RGB and depth after the warp). The warp is
:func:`~gen3d.evaluation.metrics.geometry_functional.reproject`; occlusions are found with a z-buffer of A's own
reprojected points, so hidden pixels do not count as inconsistency.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor, nn

from gen3d.registry import METRICS

from .geometry_functional import DEPTH_KINDS, multiview_consistency, sphere_cam2world
from .geometry_metric import generator_camera, samples_intrinsics, stack_field

__all__ = ["MultiViewConsistency"]

YAW_DELTA = 0.3  # radians between the two views: pi-GAN's CelebA yaw std (curriculums.py 'h_stddev')
RESULT_KEYS = ("mv_photometric_l1", "mv_depth_rel_error", "mv_valid_fraction")
_VIEW_KEYS = ("fake_img", "fake_depth", "cam2world", "fake_img_b", "fake_depth_b", "cam2world_b")


def _unit_range(img: Tensor) -> Tensor:
    """uint8 ``[0, 255]`` or float ``[-1, 1]`` images as float ``[0, 1]``."""
    return img.float() / 255 if img.dtype == torch.uint8 else (img.float() + 1) / 2


@METRICS.register_module()
class MultiViewConsistency(BaseMetric):
    """Photometric and depth reprojection error between two renders of one latent (lower is better).

    Result keys (default prefix ``multiview``): ``mv_photometric_l1`` (mean ``|A - warp(B)|`` over valid pixels and
    channels, images in ``[0, 1]``), ``mv_depth_rel_error`` (mean ``|d_AB - warp(d_B)| / d_AB``, ``d_AB`` the depth
    of A's points seen from B), ``mv_valid_fraction`` (pixels of A that are in its mask, visible in B and unoccluded).
    Errors are pooled over the valid pixels of all samples.

    Per-sample inputs (a model's ``val_step`` or :meth:`evaluate_generator`): ``fake_img`` / ``fake_img_b``
    ``(C, H, W)`` uint8 or float in ``[-1, 1]``, ``fake_depth`` / ``fake_depth_b`` ``(1, H, W)``, ``cam2world`` /
    ``cam2world_b`` ``(4, 4)``, optionally ``intrinsics`` ``(3, 3)`` pixels (else from ``fov``) and ``fake_mask``
    ``(1, H, W)`` of view A.

    Args:
        yaw_delta: Yaw between the views of :meth:`evaluate_generator` (radians; A at ``-delta/2``, B at
            ``+delta/2`` about the generator's mean yaw).
        pitch_delta: Pitch between the views, likewise.
        yaw_std: Standard deviation of a common random yaw offset per latent (0: every pair at the same two poses).
        fov: Full field of view, degrees (else per-sample ``intrinsics``, or the generator's).
        depth_kind: ``'z'`` or ``'ray'``; None: the generator's (``'z'`` for samples).
        camera: ``'opengl'`` (gen3d's renderer) or ``'opencv'``.
        occlusion: ``'zbuffer'`` or ``'none'``.
        occlusion_tol: Relative depth slack of the z-buffer test.
        use_mask: Restrict to view A's ``fake_mask`` (opacity > 0.5) when present.
        collect_device: Device mmengine gathers results on.
        prefix: Key prefix.
    """

    default_prefix = "multiview"

    def __init__(self, yaw_delta: float = YAW_DELTA, pitch_delta: float = 0.0, yaw_std: float = 0.0,
                 fov: float | None = None, depth_kind: str | None = None, camera: str = "opengl",
                 occlusion: str = "zbuffer", occlusion_tol: float = 0.02, use_mask: bool = True,
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if depth_kind is not None and depth_kind not in DEPTH_KINDS:
            raise ValueError(f"depth_kind must be one of {DEPTH_KINDS} or None, got {depth_kind!r}")
        if occlusion not in ("zbuffer", "none"):
            raise ValueError(f"occlusion must be 'zbuffer' or 'none', got {occlusion!r}")
        self.yaw_delta, self.pitch_delta, self.yaw_std = float(yaw_delta), float(pitch_delta), float(yaw_std)
        self.fov, self.depth_kind, self.camera = fov, depth_kind, camera
        self.occlusion, self.occlusion_tol, self.use_mask = occlusion, float(occlusion_tol), bool(use_mask)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Warp each sample's view A into its view B; store per-sample sums and counts.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: Per-sample dicts with the keys in the class docstring.

        Raises:
            KeyError: A sample lacks a view key.
        """
        views = {k: stack_field(data_samples, k, as_map=k.startswith("fake_depth")) for k in _VIEW_KEYS}
        missing = [k for k, v in views.items() if v is None]
        if missing:
            raise KeyError(f"{type(self).__name__} needs {list(_VIEW_KEYS)} per sample; missing {missing}")
        depth_a = views["fake_depth"].float()
        k = samples_intrinsics(data_samples, self.fov, *depth_a.shape[-2:])
        mask = stack_field(data_samples, "fake_mask", as_map=True) if self.use_mask else None
        res = multiview_consistency(
            _unit_range(views["fake_img"]), depth_a, _unit_range(views["fake_img_b"]), views["fake_depth_b"].float(),
            views["cam2world"].float(), views["cam2world_b"].float(), k, mask_a=mask,
            depth_kind=self.depth_kind or "z", camera=self.camera, occlusion=self.occlusion,
            occlusion_tol=self.occlusion_tol)
        n = res["num_valid"].double()
        total = depth_a[0].numel()
        for i in range(len(n)):
            self.results.append(np.array([res["photometric_l1"][i] * n[i], res["depth_rel_error"][i] * n[i], n[i],
                                          total], dtype=np.float64))

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        """Pool the per-sample sums of all ranks over the valid pixels."""
        photo, depth, valid, total = np.sum(results, 0)
        return {RESULT_KEYS[0]: float(photo / valid) if valid else math.nan,
                RESULT_KEYS[1]: float(depth / valid) if valid else math.nan, RESULT_KEYS[2]: float(valid / total)}

    @torch.no_grad()
    def evaluate_generator(self, generator: nn.Module, num_samples: int = 64, batch_size: int = 16,
                           seed: int = 0) -> dict[str, float]:
        """Render each of ``num_samples`` seeded latents at two poses and score the pairs.

        Protocol (gen3d's generator interface plus duck-typed camera attributes): ``generator.z_dim``;
        ``generator(z, None, pose, noise_mode='const')`` with ``pose`` a ``(N, 4, 4)`` cam2world (pi-GAN's
        generator takes one) returning an object with ``.image`` ``(N, C, R, R)`` in ``[-1, 1]``, ``.depth``
        ``(N, 1, R, R)`` and optionally ``.mask``; ``fov`` / ``renderer.fov`` and ``depth_kind`` as
        :func:`~gen3d.evaluation.metrics.geometry_metric.generator_camera` reads them; ``yaw_mean``,
        ``pitch_mean`` and ``camera_radius`` if it has them (else ``pi/2``, ``pi/2``, 1: the camera on ``+z``).

        Returns:
            The result keys, without prefix.
        """
        fov, depth_kind = generator_camera(generator, self.fov, self.depth_kind)
        yaw0 = float(getattr(generator, "yaw_mean", math.pi / 2))
        pitch0 = float(getattr(generator, "pitch_mean", math.pi / 2))
        radius = float(getattr(generator, "camera_radius", 1.0))
        saved = (self.fov, self.depth_kind, self.results)
        self.fov, self.depth_kind, self.results = fov, depth_kind, []
        try:
            device = next(generator.parameters()).device
            gen = torch.Generator().manual_seed(seed)
            for start in range(0, num_samples, batch_size):
                n = min(batch_size, num_samples - start)
                z = torch.randn(n, generator.z_dim, generator=gen)
                yaw = yaw0 + self.yaw_std * torch.randn(n, generator=gen)
                pitch = torch.full((n,), pitch0)
                pose_a = sphere_cam2world(yaw - self.yaw_delta / 2, pitch - self.pitch_delta / 2, radius)
                pose_b = sphere_cam2world(yaw + self.yaw_delta / 2, pitch + self.pitch_delta / 2, radius)
                out_a = generator(z.to(device), None, pose_a.to(device), noise_mode="const")
                out_b = generator(z.to(device), None, pose_b.to(device), noise_mode="const")
                samples = [{"fake_img": out_a.image[i].cpu(), "fake_depth": out_a.depth[i].cpu(),
                            "cam2world": pose_a[i], "fake_img_b": out_b.image[i].cpu(),
                            "fake_depth_b": out_b.depth[i].cpu(), "cam2world_b": pose_b[i]} for i in range(n)]
                if getattr(out_a, "mask", None) is not None:
                    for i, s in enumerate(samples):
                        s["fake_mask"] = out_a.mask[i].cpu()
                self.process(None, samples)
            return self.compute_metrics(self.results)
        finally:
            self.fov, self.depth_kind, self.results = saved
