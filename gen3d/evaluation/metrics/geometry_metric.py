"""Normal angular error and scale-and-shift-aligned depth error of predicted or rendered geometry.

What "rendered geometry against ground truth" can mean for a GAN (GeoD, arXiv 2209.15637; DepthGAN, arXiv
2202.08553): ground truth exists only for real images, so :class:`GeometryMetric` has two references.

* ``reference='gt'``: a geometry *prediction on real images* against the dataset's ground truth: GeoD's geometry
  head of D or its inverse renderer, DepthGAN's depth head (RealDepthEval), a frozen estimator. The model's
  ``val_step`` / ``test_step`` emits ``pred_normal`` / ``pred_depth`` per real image beside the ground truth that
  ``PackPoseInputs`` puts in ``data_samples`` (``normal`` ``[3, H, W]`` unit OpenGL camera space, ``depth``
  ``[1, H, W]`` ray distance, ``mask`` ``[1, H, W]``); either pair may be absent. Where a generator is evaluated against
  pseudo ground truth (DepthGAN's GeneratedDepthEval: depth of an estimator run on the generated RGB, or GeoD's
  normals of D on the fakes), the model emits that pair under the same keys.
* ``reference='depth'``: *self-consistency of generated geometry*: the generator's normal output against the
  normals of its own rendered depth (finite differences at the render's intrinsics). Zero where a generator's
  normals are computed from that depth and the pixel is opaque (pi-GAN ``normals='depth'`` takes them of
  ``sum w t / opacity``, so only partly transparent pixels differ); informative for density-gradient normals
  (``normals='density'``) or any generator with a separate normal branch. Reads ``fake_normal``, ``fake_depth``,
  ``fake_mask``; :meth:`GeometryMetric.evaluate_generator` renders them from a generator directly.

Normals are pooled over all valid pixels (median from a 0.05-degree histogram, so ranks need not gather pixels);
depth errors are per image after MiDaS alignment, then averaged over images.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor, nn

from gen3d.registry import METRICS

from .geometry_functional import (
    DEPTH_KINDS,
    NORMAL_THRESHOLDS,
    angular_error_map,
    depth_errors,
    normal_valid,
    normals_from_depth,
    pinhole_intrinsics,
)

__all__ = ["GeometryMetric", "generator_camera", "samples_intrinsics", "stack_field"]

HIST_BIN_DEG = 0.05  # resolution of the pooled median
NORMAL_KEYS = ("normal_mean_deg", "normal_median_deg") + tuple(
    f"normal_within_{t:g}".replace(".", "_") for t in NORMAL_THRESHOLDS)
DEPTH_KEYS = ("depth_absrel", "depth_rmse", "depth_delta1")
_REFERENCE_KEYS = {  # (pred normal, reference normal, pred depth, reference depth, mask)
    "gt": ("pred_normal", "normal", "pred_depth", "depth", "mask"),  # PackPoseInputs names the ground truth
    "depth": ("fake_normal", None, None, "fake_depth", "fake_mask"),
}


def stack_field(samples: Sequence[Any], key: str, as_map: bool = False) -> Tensor | None:
    """``(N, ...)`` stack of ``key`` over per-sample dicts (or objects with ``get``); None if any sample lacks it.

    With ``as_map``, ``(H, W)`` maps (a mask or depth without its channel) become ``(N, 1, H, W)``.
    """
    values = [s.get(key) if hasattr(s, "get") else getattr(s, key, None) for s in samples]
    if not values or any(v is None for v in values):
        return None
    stacked = torch.stack([torch.as_tensor(v) for v in values])
    return stacked[:, None] if as_map and stacked.dim() == 3 else stacked


def generator_camera(generator: nn.Module, fov: float | None = None, depth_kind: str | None = None
                     ) -> tuple[float, str]:
    """The field of view and depth kind of a 3D-aware generator's renders.

    Read from the arguments, else from the generator (``fov`` or ``renderer.fov``; ``depth_kind``, default
    ``'z'``, the ``GeneratorOutput`` convention). Attributes beyond the generator interface, read by duck typing.

    Raises:
        ValueError: No field of view given or found.
    """
    fov = fov if fov is not None else getattr(generator, "fov", None)
    if fov is None and hasattr(generator, "renderer"):
        fov = getattr(generator.renderer, "fov", None)
    if fov is None:
        raise ValueError(f"{type(generator).__name__} exposes no fov (nor renderer.fov): pass fov= to the metric")
    depth_kind = depth_kind or getattr(generator, "depth_kind", "z")
    if depth_kind not in DEPTH_KINDS:
        raise ValueError(f"depth_kind must be one of {DEPTH_KINDS}, got {depth_kind!r}")
    return float(fov), depth_kind


def samples_intrinsics(samples: Sequence[Any], fov: float | None, h: int, w: int) -> Tensor:
    """Pixel intrinsics at ``H x W``: the samples' ``intrinsics`` ``(N, 3, 3)``, else those of a field of view.

    The field of view is the metric's ``fov``, else the samples' ``fov`` in degrees (as ``PackPoseInputs`` stores it).

    Raises:
        ValueError: None is available.
    """
    k = stack_field(samples, "intrinsics")
    if k is not None:
        return k.float()
    if fov is not None:
        return pinhole_intrinsics(fov, h, w)
    fovs = [s.get("fov") if hasattr(s, "get") else None for s in samples]
    if fovs and all(f is not None for f in fovs):
        return torch.stack([pinhole_intrinsics(float(f), h, w) for f in fovs])
    raise ValueError("the samples carry no 'intrinsics' nor 'fov' and the metric has no fov")


@METRICS.register_module()
class GeometryMetric(BaseMetric):
    """Normal angular error and aligned depth error (see the module docstring for the two references).

    Result keys (prefixed ``<prefix>/`` by mmengine; default prefix ``geometry`` for ``reference='gt'`` and
    ``geometry_self`` for ``'depth'``): ``normal_mean_deg``, ``normal_median_deg``, ``normal_within_11_25``,
    ``normal_within_22_5``, ``normal_within_30`` (fractions in ``[0, 1]``), ``depth_absrel``, ``depth_rmse``,
    ``depth_delta1`` (fraction); a group appears when its inputs were present.

    Per-sample inputs: normals ``(3, H, W)`` (camera space; zero vectors are missing ground truth), depth
    ``(1, H, W)`` (``gt <= 0`` is missing), mask ``(1, H, W)`` (bool or opacity, thresholded at 0.5), and for
    ``reference='depth'`` optionally ``intrinsics`` ``(3, 3)`` (else ``fov`` builds them).

    Args:
        reference: ``'gt'`` or ``'depth'``.
        align_depth: Fit scale and shift per image before the depth errors (depth from a GAN or an estimator is
            defined up to them); False compares metric depth.
        fov: Full field of view, degrees, of the renders (``reference='depth'`` without per-sample intrinsics).
        depth_kind: ``'z'`` or ``'ray'`` depth (``reference='depth'``).
        camera: ``'opengl'`` (gen3d's renderer) or ``'opencv'`` camera frame.
        keys: Override of the per-sample key names ``{'pred_normal', 'ref_normal', 'pred_depth', 'ref_depth',
            'mask'}``.
        collect_device: Device mmengine gathers results on.
        prefix: Key prefix.
    """

    def __init__(self, reference: str = "gt", align_depth: bool = True, fov: float | None = None,
                 depth_kind: str = "z", camera: str = "opengl", keys: dict[str, str | None] | None = None,
                 collect_device: str = "cpu", prefix: str | None = None) -> None:
        if reference not in _REFERENCE_KEYS:
            raise ValueError(f"reference must be one of {sorted(_REFERENCE_KEYS)}, got {reference!r}")
        if depth_kind not in DEPTH_KINDS:
            raise ValueError(f"depth_kind must be one of {DEPTH_KINDS}, got {depth_kind!r}")
        super().__init__(collect_device=collect_device,
                         prefix=prefix or ("geometry" if reference == "gt" else "geometry_self"))
        names = dict(zip(("pred_normal", "ref_normal", "pred_depth", "ref_depth", "mask"), _REFERENCE_KEYS[reference]))
        unknown = set(keys or {}) - set(names)
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; expected a subset of {sorted(names)}")
        names.update(keys or {})
        self.reference, self.names = reference, names
        self.align_depth, self.fov, self.depth_kind, self.camera = bool(align_depth), fov, depth_kind, camera

    # ------------------------------------------------------------------ per batch
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Accumulate one entry per batch: a normal-error histogram and per-image depth errors.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: Per-sample dicts with the keys of the chosen reference.
        """
        n = self.names
        mask = stack_field(data_samples, n["mask"], as_map=True) if n["mask"] else None
        entry: dict[str, Any] = {}
        pred_n = stack_field(data_samples, n["pred_normal"]) if n["pred_normal"] else None
        ref_n = stack_field(data_samples, n["ref_normal"]) if n["ref_normal"] else None
        if self.reference == "depth" and pred_n is not None:
            depth = stack_field(data_samples, n["ref_depth"], as_map=True)
            if depth is None:
                raise KeyError(f"reference='depth' needs {n['ref_depth']!r} beside {n['pred_normal']!r}")
            k = samples_intrinsics(data_samples, self.fov, *depth.shape[-2:])
            ref_n = normals_from_depth(depth.float(), k, self.depth_kind, self.camera)
        if pred_n is not None and ref_n is not None:
            entry["normal"] = self._normal_entry(pred_n.float(), ref_n.float(), mask)
        if self.reference == "gt" and n["pred_depth"] and n["ref_depth"]:
            pred_d = stack_field(data_samples, n["pred_depth"], as_map=True)
            gt_d = stack_field(data_samples, n["ref_depth"], as_map=True)
            if pred_d is not None and gt_d is not None:
                err = depth_errors(pred_d.float(), gt_d.float(), mask, self.align_depth)
                keep = err["count"] > 0
                entry["depth"] = np.stack([err[k][keep].numpy() for k in ("absrel", "rmse", "delta1")], 1)
        if entry:
            self.results.append(entry)

    @staticmethod
    def _normal_entry(pred: Tensor, ref: Tensor, mask: Tensor | None) -> dict[str, np.ndarray]:
        angles = angular_error_map(pred, ref)[normal_valid(pred, ref, mask)].double()
        bins = int(round(180 / HIST_BIN_DEG))
        hist = torch.histc(angles, bins=bins, min=0.0, max=180.0) if angles.numel() else torch.zeros(bins)
        within = np.array([(angles < t).sum().item() for t in NORMAL_THRESHOLDS], dtype=np.int64)
        return {"sum": np.float64(angles.sum().item()), "count": np.int64(angles.numel()),
                "within": within, "hist": hist.numpy().astype(np.int64)}

    # ------------------------------------------------------------------ gathered
    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Pool the normal entries and average the per-image depth errors of all ranks.

        Raises:
            ValueError: No sample carried a complete pair of inputs.
        """
        out: dict[str, float] = {}
        normals = [r["normal"] for r in results if "normal" in r]
        if normals:
            count = sum(int(e["count"]) for e in normals)
            hist = np.sum([e["hist"] for e in normals], 0)
            within = np.sum([e["within"] for e in normals], 0)
            out["normal_mean_deg"] = sum(float(e["sum"]) for e in normals) / count if count else math.nan
            out["normal_median_deg"] = _hist_median(hist, count)
            out.update({k: (float(w) / count if count else math.nan) for k, w in zip(NORMAL_KEYS[2:], within)})
        depths = [r["depth"] for r in results if "depth" in r and len(r["depth"])]
        if depths:
            out.update(zip(DEPTH_KEYS, np.concatenate(depths).mean(0).tolist()))  # floats, JSON-ready
        if not out:
            raise ValueError(f"{type(self).__name__}: no sample carried a complete pair of inputs "
                             f"({self.names}); check that the model and the dataset emit them")
        return out

    @torch.no_grad()
    def evaluate_generator(self, generator: nn.Module, num_samples: int = 64, batch_size: int = 16,
                           seed: int = 0) -> dict[str, float]:
        """Render ``num_samples`` seeded latents at poses the generator draws and score them (``reference='depth'``).

        The generator follows gen3d's interface (``z_dim``; ``forward(z, c, pose, noise_mode='const')`` returning an
        object with ``.normal``, ``.depth`` and optionally ``.mask``; ``sample_pose(num, device, generator=)`` draws
        seeded poses when it has one); the camera comes from :func:`generator_camera`.

        Returns:
            The result keys, without prefix.
        """
        if self.reference != "depth":
            raise ValueError("evaluate_generator needs reference='depth' (a generator has no ground truth)")
        fov, depth_kind = generator_camera(generator, self.fov, self.depth_kind)
        saved = (self.fov, self.depth_kind, self.results)
        self.fov, self.depth_kind, self.results = fov, depth_kind, []
        try:
            device = next(generator.parameters()).device
            gen = torch.Generator().manual_seed(seed)
            for start in range(0, num_samples, batch_size):
                n = min(batch_size, num_samples - start)
                z = torch.randn(n, generator.z_dim, generator=gen).to(device)
                pose = generator.sample_pose(n, device, generator=gen) if hasattr(generator, "sample_pose") else None
                out = generator(z, None, pose, noise_mode="const")
                if getattr(out, "normal", None) is None or getattr(out, "depth", None) is None:
                    raise TypeError(f"{type(generator).__name__} output has no normal/depth: not a 3D-aware generator")
                mask = getattr(out, "mask", None)
                self.process(None, [{"fake_normal": out.normal[i].cpu(), "fake_depth": out.depth[i].cpu(),
                                     **({} if mask is None else {"fake_mask": mask[i].cpu()})} for i in range(n)])
            return self.compute_metrics(self.results)
        finally:
            self.fov, self.depth_kind, self.results = saved


def _hist_median(hist: np.ndarray, count: int) -> float:
    """Median of pooled angles from their histogram, linear inside the bin (error < ``HIST_BIN_DEG``)."""
    if count == 0:
        return math.nan
    cum = np.cumsum(hist)
    i = int(np.searchsorted(cum, count / 2))
    below = cum[i - 1] if i else 0
    return float((i + (count / 2 - below) / max(hist[i], 1)) * HIST_BIN_DEG)
