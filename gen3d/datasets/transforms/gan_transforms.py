"""Pipeline steps of the GAN family: load (RGB or one grey channel), resize + centre-crop, flip, pack.

A typical training pipeline at resolution ``R``::

    [dict(type="LoadGANImage", color_type="color"),        # or "grayscale" for a 1-channel GAN
     dict(type="GANResizeCrop", resolution=R),             # shorter side to R, centre crop R x R
     dict(type="GANRandomFlip", prob=0.5),                 # x-flip augmentation (StyleGAN2-ADA's --mirror)
     dict(type="PackGANInputs")]

Resizing and flipping go through albumentations, reseeded per dataloader worker like the segmentation steps
(:mod:`gen3d.datasets.transforms.seg_augment`).
"""

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np
import torch

from gen3d.registry import TRANSFORMS

from .loading import LoadAnomalyImage
from .seg_augment import _SeededCompose

COLOR_TYPES = ("color", "grayscale")
_INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                   "lanczos": cv2.INTER_LANCZOS4, "nearest": cv2.INTER_NEAREST}


@TRANSFORMS.register_module()
class LoadGANImage(LoadAnomalyImage):
    """Load ``results['img_path']`` as uint8 ``(H, W, 3)`` RGB or ``(H, W, 1)`` grey.

    Reads like :class:`LoadAnomalyImage` (through :func:`gen3d.runtime.sources.imread_rgb`: grey, alpha and
    16-bit files handled; a corrupt or missing file raises naming it). ``'grayscale'`` converts with ITU-R 601
    luma, so a grey file keeps its exact values. Adds ``img``, ``img_shape`` and ``ori_shape``.

    Args:
        color_type: ``'color'`` (3 channels) or ``'grayscale'`` (1 channel).
    """

    def __init__(self, color_type: str = "color") -> None:
        if color_type not in COLOR_TYPES:
            raise ValueError(f"color_type must be one of {COLOR_TYPES}, got {color_type!r}")
        self.color_type = color_type

    def __call__(self, results: dict) -> dict:
        """Load the image into ``results`` and return it."""
        results = super().__call__(results)
        if self.color_type == "grayscale":
            results["img"] = cv2.cvtColor(results["img"], cv2.COLOR_RGB2GRAY)[:, :, None]
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(color_type={self.color_type!r})"


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Restore the trailing channel axis of a 1-channel image that a cv2-based transform dropped."""
    return out[:, :, None] if out.ndim == 2 and like.ndim == 3 else out


@TRANSFORMS.register_module()
class GANResizeCrop:
    """Resize the shorter side to ``resolution`` and centre-crop (or stretch) to ``resolution x resolution``.

    Shrinking uses ``down_interpolation`` (area: no aliasing), enlarging ``up_interpolation`` (bicubic).
    Updates ``img`` and ``img_shape``.

    Args:
        resolution: Output side ``R``.
        keep_ratio: True: shorter side to ``R`` then centre crop; False: stretch to ``R x R``.
        down_interpolation: ``'area'``, ``'bilinear'``, ``'bicubic'``, ``'lanczos'`` or ``'nearest'``.
        up_interpolation: Same choices, for images smaller than ``R``.
    """

    def __init__(self, resolution: int, keep_ratio: bool = True, down_interpolation: str = "area",
                 up_interpolation: str = "bicubic") -> None:
        if int(resolution) < 1:
            raise ValueError(f"resolution must be positive, got {resolution}")
        for name in (down_interpolation, up_interpolation):
            if name not in _INTERPOLATIONS:
                raise ValueError(f"interpolation must be one of {tuple(_INTERPOLATIONS)}, got {name!r}")
        self.resolution = int(resolution)
        self.keep_ratio = bool(keep_ratio)
        self.interp = (down_interpolation, up_interpolation)
        r = self.resolution

        def steps(interp: int) -> list:
            if keep_ratio:
                return [A.SmallestMaxSize(max_size=r, interpolation=interp), A.CenterCrop(height=r, width=r)]
            return [A.Resize(height=r, width=r, interpolation=interp)]

        self.down = A.Compose(steps(_INTERPOLATIONS[down_interpolation]))
        self.up = A.Compose(steps(_INTERPOLATIONS[up_interpolation]))

    def __call__(self, results: dict) -> dict:
        """Resize ``results['img']`` in place and return ``results``."""
        img = results["img"]
        r = self.resolution
        if img.shape[:2] != (r, r):
            side = min(img.shape[:2]) if self.keep_ratio else max(img.shape[:2])
            aug = self.up if side < r else self.down
            img = _keep_channels(aug(image=img)["image"], img)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(resolution={self.resolution}, keep_ratio={self.keep_ratio}, "
                f"down_interpolation={self.interp[0]!r}, up_interpolation={self.interp[1]!r})")


@TRANSFORMS.register_module()
class GANRandomFlip:
    """Horizontal flip with probability ``prob`` (x-flip dataset augmentation). Sets ``flip``.

    Args:
        prob: Flip probability.
        seed: Seed of the random state (None: fresh entropy); reseeded per dataloader worker.
    """

    def __init__(self, prob: float = 0.5, seed: int | None = None) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob = float(prob)
        self.aug = _SeededCompose([A.HorizontalFlip(p=self.prob)], seed, save_applied_params=True)

    def __call__(self, results: dict) -> dict:
        """Flip ``results['img']`` in place (maybe) and return ``results``."""
        out = self.aug(image=results["img"])
        results["img"] = _keep_channels(out["image"], results["img"])
        results["flip"] = any(name == "HorizontalFlip" for name, _ in out.get("applied_transforms", []))
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(prob={self.prob})"


@TRANSFORMS.register_module()
class PackGANInputs:
    """Pack into ``{'inputs': uint8 [C, R, R], 'data_samples': dict(img_path, gt_label, sample_idx, ...)}``.

    ``inputs`` is unnormalised; the model's data preprocessor maps it to ``[-1, 1]``. ``data_samples`` is a
    plain dict (not a data-element structure: a GAN sample has no annotation beyond its class), holding
    ``gt_label`` (int, ``-1`` for unconditional data) and the ``meta_keys`` found in ``results``. Batched by
    mmengine's default ``pseudo_collate`` a batch is ``{'inputs': [uint8 [C, R, R], ...], 'data_samples':
    {'gt_label': [int, ...], 'img_path': [str, ...], ...}}`` (a dict of lists); with ``default_collate``
    ``inputs`` is ``uint8 [N, C, R, R]`` and ``gt_label`` a long tensor ``[N]``.

    Args:
        meta_keys: Keys of ``results`` copied into ``data_samples`` (when present).
    """

    DEFAULT_META_KEYS = ("img_path", "sample_idx", "ori_shape", "flip")

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        """Return the packed dict."""
        img = results["img"]
        if img.ndim == 2:
            img = img[:, :, None]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (1, 3):
            raise ValueError(f"PackGANInputs expects img as (H, W, 1|3) uint8, got {img.dtype} {img.shape} "
                             f"({results.get('img_path')})")
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = {"gt_label": int(results.get("gt_label", -1))}
        for key in self.meta_keys:
            if key in results:
                value = results[key]
                sample[key] = tuple(int(v) for v in value) if key.endswith("_shape") else value
        return {"inputs": inputs, "data_samples": sample}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(meta_keys={self.meta_keys})"
