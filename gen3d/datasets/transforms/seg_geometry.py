"""Resize and crop steps of the DAFormer / FST UDA pipelines, as in mmseg 0.x on mmcv 1.x.

DAFormer (arXiv 2111.14887) and FST (arXiv 2304.10301) train GTA5 -> Cityscapes with mmseg's
``Resize(img_scale=(1280, 720))`` (``keep_ratio`` True by default) and ``RandomCrop(crop_size,
cat_max_ratio=0.75)`` on the source images (FST ``configs/_base_/datasets/uda_gta_to_cityscapes_512x512.py``).

* :func:`rescale_size` / :class:`SegKeepRatioResize`: mmcv ``imrescale``: one factor
  ``min(long_bound / long_side, short_bound / short_side)`` for both sides, rounded half up (GTA5's 1914x1052
  frames become 1280x704, not 1280x720); image bilinear, mask nearest-neighbour.
* :class:`CatMaxRatioCrop`: albumentations ``RandomCrop`` with mmseg's ``cat_max_ratio``: while the most frequent
  non-ignore class covers ``>= cat_max_ratio`` of the crop (or fewer than two classes are present) the box is
  redrawn, at most :data:`CAT_MAX_RATIO_TRIES` times; the last box drawn is kept even if it fails the check.
  The boxes come from albumentations' random state, so a seeded ``A.Compose`` stays reproducible.
"""

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from gen3d.registry import TRANSFORMS

#: Number of redraws of mmseg ``RandomCrop`` when ``cat_max_ratio < 1`` (``for _ in range(10)``).
CAT_MAX_RATIO_TRIES = 10


def rescale_size(size: Sequence[int], scale: Sequence[int]) -> tuple[int, int]:
    """New ``(w, h)`` of an image rescaled as large as possible within ``scale``, keeping its aspect ratio.

    mmcv 1.x ``rescale_size`` with a tuple scale: factor ``min(max(scale) / max(w, h), min(scale) / min(w, h))``,
    each side ``int(side * factor + 0.5)``.

    Args:
        size: ``(w, h)`` of the image.
        scale: Bounds of the long and the short side, in any order (mmseg's ``img_scale``, e.g. ``(1280, 720)``).

    Returns:
        ``(new_w, new_h)``.
    """
    w, h = (int(v) for v in size)
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(w * float(factor) + 0.5), int(h * float(factor) + 0.5)


@TRANSFORMS.register_module()
class SegKeepRatioResize:
    """mmseg ``Resize(img_scale=scale, keep_ratio=True)``: rescale ``img`` and ``gt_seg_map`` within ``scale``.

    The image is resized bilinearly (cv2, as mmcv's default backend), the mask (when loaded) with
    nearest-neighbour interpolation to the image's new size (mmseg rescales the mask by its own size, which is
    the same when mask and image agree; :class:`~gen3d.datasets.transforms.LoadSegMask` with
    ``size_mismatch='resize'`` makes them agree). Updates ``img`` ``(new_h, new_w, 3)``, ``gt_seg_map``
    ``(new_h, new_w)`` and ``img_shape``.

    Args:
        scale: Bounds of the long and the short side, in any order (e.g. ``(1280, 720)`` for GTA5 in DAFormer).
    """

    def __init__(self, scale: Sequence[int]) -> None:
        if len(scale) != 2 or min(scale) < 1:
            raise ValueError(f"scale must be two positive side bounds, got {scale}")
        self.scale = (int(scale[0]), int(scale[1]))

    def __call__(self, results: dict) -> dict:
        """Resize ``results`` in place and return it."""
        img = results["img"]
        new_w, new_h = rescale_size((img.shape[1], img.shape[0]), self.scale)
        results["img"] = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if results.get("gt_seg_map") is not None:
            results["gt_seg_map"] = cv2.resize(results["gt_seg_map"], (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        results["img_shape"] = (new_h, new_w)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(scale={self.scale})"


def crop_is_diverse(mask: np.ndarray, crop_coords: Sequence[int], cat_max_ratio: float, ignore_index: int) -> bool:
    """Acceptance test of a crop box in mmseg ``RandomCrop`` (``cat_max_ratio``).

    Args:
        mask: ``(H, W)`` class ids.
        crop_coords: ``(x_min, y_min, x_max, y_max)`` of the box.
        cat_max_ratio: Largest share of one class in the crop, exclusive.
        ignore_index: Mask value left out of the counts.

    Returns:
        True when at least two non-ignore classes are in the box and the most frequent one covers less than
        ``cat_max_ratio`` of the non-ignore pixels.
    """
    x1, y1, x2, y2 = crop_coords
    labels, counts = np.unique(mask[y1:y2, x1:x2], return_counts=True)
    counts = counts[labels != ignore_index]
    return len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio


class CatMaxRatioCrop(A.RandomCrop):
    """``A.RandomCrop`` whose box is redrawn while one class dominates the mask crop (mmseg ``cat_max_ratio``).

    The first box and each redraw are ordinary ``RandomCrop`` draws; up to :data:`CAT_MAX_RATIO_TRIES` redraws
    follow a box failing :func:`crop_is_diverse`, and the last box drawn is kept. Without a ``mask`` target (or
    with ``cat_max_ratio >= 1``) it is exactly ``A.RandomCrop``.

    Args:
        height: Crop height.
        width: Crop width.
        cat_max_ratio: Largest share of one class in the crop (1.0: off).
        ignore_index: Mask value left out of the class counts (e.g. padding).
        p: Probability of applying the crop.
    """

    def __init__(self, height: int, width: int, cat_max_ratio: float = 1.0, ignore_index: int = 255,
                 p: float = 1.0) -> None:
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f"cat_max_ratio must be in (0, 1], got {cat_max_ratio}")
        super().__init__(height=height, width=width, p=p)
        self.cat_max_ratio = float(cat_max_ratio)
        self.ignore_index = int(ignore_index)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the crop box, redrawing it as mmseg ``RandomCrop`` does."""
        crop = super().get_params_dependent_on_data(params, data)
        mask = data.get("mask")
        if self.cat_max_ratio >= 1.0 or mask is None:
            return crop
        for _ in range(CAT_MAX_RATIO_TRIES):
            if crop_is_diverse(mask, crop["crop_coords"], self.cat_max_ratio, self.ignore_index):
                break
            crop = super().get_params_dependent_on_data(params, data)
        return crop

