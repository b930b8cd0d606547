"""Weak (geometric) and strong (photometric) augmentation of the segmentation pipelines, through albumentations.

* :class:`SegWeakAug`: U2PL's weak view (spec A6): random rescale in ``[0.5, 2.0]``, padding to the crop size
  (image with ``pad_val``, mask with the ignore index 255 or ``seg_pad_val``), random crop, horizontal flip; image
  and mask together. U2PL's own settings (``scale_sampling='split'``, mean-colour centred padding, label 0) are
  options; see :class:`SegWeakAug`. ``cat_max_ratio`` < 1 redraws the crop box while one class dominates it, as
  mmseg's ``RandomCrop`` in DAFormer / FST's UDA source pipeline (see
  :class:`~gen3d.datasets.transforms.seg_geometry.CatMaxRatioCrop`).
* :class:`SegStrongAug`: colour-only strong view written to ``img_strong`` on top of the weak crop, so the two
  views share their geometry. U2PL's own strong augmentation is CutMix, done in the model step (spec A3);
  the colour defaults here are the usual semi-supervised ones (colour jitter 0.5/0.5/0.5/0.25 with p 0.8,
  grayscale p 0.2, Gaussian blur sigma 0.1-2.0 with p 0.5) and every part can be switched off.
* :class:`SegAlbu`: any list of albumentations transforms on image and mask (e.g. a resize for validation).

Random state: albumentations keeps its own generator. In a loader built by gen3d's Runner it is reseeded for every
sample from the sample's key (:func:`gen3d.datasets.seeding.private_seed`, mixed with ``seed``), so a sample's
augmentation depends neither on the worker nor on a resume. Elsewhere these steps reseed it once per process/worker
from ``torch.initial_seed()`` (set per worker by torch and mmengine), so workers never repeat each other's
augmentations; ``seed`` makes the main process deterministic.
"""

import copy
import os
from collections.abc import Sequence

import albumentations as A
import cv2
import torch

from gen3d.registry import TRANSFORMS

from ..seeding import private_seed
from .albu import Albu
from .seg_geometry import CatMaxRatioCrop

#: U2PL's random-resize range (spec A6).
U2PL_SCALE_RANGE = (0.5, 2.0)
#: U2PL pads the normalised image with 0: the ImageNet mean colour in raw RGB.
U2PL_PAD_VAL = (123.675, 116.28, 103.53)
#: Common strong colour augmentation of semi-supervised segmentation (see the module docstring).
STRONG_COLOR_JITTER = (0.5, 0.5, 0.5, 0.25)


class _SeededCompose:
    """An ``A.Compose`` reseeded for every keyed sample, else once in every new process / dataloader worker."""

    def __init__(self, transforms: list, seed: int | None, save_applied_params: bool = False) -> None:
        self.seed = seed
        self.aug = A.Compose(transforms, seed=seed, save_applied_params=save_applied_params)
        self._owner = self._process_key()

    @staticmethod
    def _process_key() -> tuple[int, int | None]:
        info = torch.utils.data.get_worker_info()
        return os.getpid(), None if info is None else info.id

    def __call__(self, **data: object) -> dict:
        sample_seed = private_seed(self.seed)
        if sample_seed is not None:
            self.aug.set_random_seed(sample_seed)
            return self.aug(**data)
        key = self._process_key()
        if key != self._owner:
            self._owner = key
            self.aug.set_random_seed((torch.initial_seed() + (self.seed or 0)) % 2**32)
        return self.aug(**data)


def _run(aug: _SeededCompose, results: dict) -> dict:
    """Apply ``aug`` to ``img`` and, when present, ``gt_seg_map``; update ``img_shape``."""
    if results.get("gt_seg_map") is not None:
        out = aug(image=results["img"], mask=results["gt_seg_map"])
        results["gt_seg_map"] = out["mask"]
    else:
        out = aug(image=results["img"])
    results["img"] = out["image"]
    results["img_shape"] = out["image"].shape[:2]
    return out


def _random_scale(lo: float, hi: float, sampling: str) -> A.BasicTransform:
    """Random rescale by a factor in ``[lo, hi]``: uniform, or U2PL's ``RandResize`` halves (see SegWeakAug)."""

    def scale(limit: tuple[float, float]) -> A.RandomScale:
        return A.RandomScale(scale_limit=limit, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                             p=1.0)

    if sampling == "uniform":
        return scale((lo - 1.0, hi - 1.0))
    return A.OneOf([scale((lo - 1.0, 0.0)), scale((0.0, hi - 1.0))], p=1.0)  # each half with probability 0.5


@TRANSFORMS.register_module()
class SegWeakAug:
    """Random rescale, pad, crop and horizontal flip of ``img`` and ``gt_seg_map`` (U2PL's weak view).

    Sets ``img`` ``(crop_h, crop_w, 3)``, ``gt_seg_map`` ``(crop_h, crop_w)`` (padding = ``ignore_index``),
    ``img_shape``, ``flip`` and ``flip_direction``.

    Args:
        crop_size: ``(h, w)`` of the crop (513 for VOC and 769 for Cityscapes in U2PL).
        scale_range: Range of the random rescale factor, relative to the loaded image.
        flip_prob: Probability of the horizontal flip.
        ignore_index: Ignored mask value (the padding of the mask unless ``seg_pad_val`` is given).
        pad_val: Image value of padded pixels (per channel or one value), in raw 0-255 RGB. U2PL pads the
            normalised image with 0, i.e. the mean colour: ``U2PL_PAD_VAL``.
        seg_pad_val: Mask value of padded pixels; ``None`` = ``ignore_index``. U2PL's ``Crop`` pads the label with
            0 (``##!!!!!!change to 0`` in ``u2pl/dataset/augmentation.py``): background on VOC.
        pad_position: ``'top_left'`` or ``'center'`` (U2PL's ``Crop`` pads both sides evenly).
        scale_sampling: ``'uniform'`` draws the scale uniformly from ``scale_range``; ``'split'`` is U2PL's
            ``RandResize``: with probability 0.5 uniform in ``[lo, 1]``, otherwise uniform in ``[1, hi]`` (so half
            of the crops are downscaled and padded, against a third with ``'uniform'`` on ``[0.5, 2.0]``).
        cat_max_ratio: mmseg ``RandomCrop``'s ``cat_max_ratio``: while the most frequent non-ignore class covers
            at least this share of the mask crop (or fewer than two classes are present), the crop box alone is
            redrawn, up to 10 times, and the last box drawn is kept (0.75 in DAFormer / FST on GTA5). 1.0: off,
            one draw. Needs ``gt_seg_map``; without it the crop is a plain random crop. The redraws come from the
            same seeded random state, so a ``seed`` still fixes the output.
        seed: Seed of the random state (None: fresh entropy).
    """

    def __init__(
        self,
        crop_size: Sequence[int] = (512, 512),
        scale_range: Sequence[float] = U2PL_SCALE_RANGE,
        flip_prob: float = 0.5,
        ignore_index: int = 255,
        pad_val: float | Sequence[float] = 0,
        cat_max_ratio: float = 1.0,
        seed: int | None = None,
        seg_pad_val: int | None = None,
        pad_position: str = "top_left",
        scale_sampling: str = "uniform",
    ) -> None:
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f"crop_size must be (h, w) with positive sides, got {crop_size}")
        lo, hi = (float(s) for s in scale_range)
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = (lo, hi)
        self.flip_prob = float(flip_prob)
        self.ignore_index = int(ignore_index)
        self.pad_val = pad_val
        self.cat_max_ratio = float(cat_max_ratio)
        if pad_position not in ("top_left", "center"):
            raise ValueError(f"pad_position must be 'top_left' or 'center', got {pad_position!r}")
        if scale_sampling not in ("uniform", "split"):
            raise ValueError(f"scale_sampling must be 'uniform' or 'split', got {scale_sampling!r}")
        if scale_sampling == "split" and not lo <= 1.0 <= hi:
            raise ValueError(f"scale_sampling='split' needs scale_range around 1, got {scale_range}")
        self.seg_pad_val = self.ignore_index if seg_pad_val is None else int(seg_pad_val)
        self.pad_position, self.scale_sampling = pad_position, scale_sampling
        h, w = self.crop_size
        fill = tuple(pad_val) if isinstance(pad_val, Sequence) else float(pad_val)
        transforms = [
            _random_scale(lo, hi, scale_sampling),
            A.PadIfNeeded(min_height=h, min_width=w, position=pad_position, border_mode=cv2.BORDER_CONSTANT,
                          fill=fill, fill_mask=self.seg_pad_val),
            CatMaxRatioCrop(height=h, width=w, cat_max_ratio=self.cat_max_ratio, ignore_index=self.ignore_index),
            A.HorizontalFlip(p=self.flip_prob),
        ]
        self.aug = _SeededCompose(transforms, seed, save_applied_params=True)

    def __call__(self, results: dict) -> dict:
        """Transform ``results`` in place and return it."""
        out = _run(self.aug, results)
        flipped = any(name == "HorizontalFlip" for name, _ in out.get("applied_transforms", []))
        results["flip"] = flipped
        results["flip_direction"] = "horizontal" if flipped else None
        return results

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(crop_size={self.crop_size}, scale_range={self.scale_range}, "
                f"flip_prob={self.flip_prob}, ignore_index={self.ignore_index}, cat_max_ratio={self.cat_max_ratio}, "
                f"seg_pad_val={self.seg_pad_val}, pad_position={self.pad_position!r}, "
                f"scale_sampling={self.scale_sampling!r})")


@TRANSFORMS.register_module()
class SegStrongAug:
    """Colour-only strong view of ``img`` written to ``img_strong`` (``img`` and the mask are unchanged).

    Args:
        color_jitter: ``(brightness, contrast, saturation, hue)`` strengths; None disables the jitter.
        jitter_prob: Probability of the colour jitter.
        gray_prob: Probability of converting to grayscale (3 channels kept).
        blur_prob: Probability of the Gaussian blur.
        blur_sigma: Range of the blur sigma (kernel size derived from it).
        seed: Seed of the random state (None: fresh entropy).
    """

    def __init__(
        self,
        color_jitter: Sequence[float] | None = STRONG_COLOR_JITTER,
        jitter_prob: float = 0.8,
        gray_prob: float = 0.2,
        blur_prob: float = 0.5,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        seed: int | None = None,
    ) -> None:
        self.cfg = dict(color_jitter=color_jitter, jitter_prob=jitter_prob, gray_prob=gray_prob,
                        blur_prob=blur_prob, blur_sigma=tuple(blur_sigma))
        transforms: list = []
        if color_jitter is not None:
            b, c, s, h = (float(v) for v in color_jitter)
            transforms.append(A.ColorJitter(brightness=(max(0.0, 1 - b), 1 + b), contrast=(max(0.0, 1 - c), 1 + c),
                                            saturation=(max(0.0, 1 - s), 1 + s), hue=(-h, h), p=jitter_prob))
        transforms.append(A.ToGray(num_output_channels=3, p=gray_prob))
        transforms.append(A.GaussianBlur(blur_limit=0, sigma_limit=tuple(float(v) for v in blur_sigma), p=blur_prob))
        self.aug = _SeededCompose(transforms, seed)

    def __call__(self, results: dict) -> dict:
        """Add ``img_strong`` ``(H, W, 3)`` uint8 to ``results`` and return it."""
        results["img_strong"] = self.aug(image=results["img"].copy())["image"]
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({', '.join(f'{k}={v}' for k, v in self.cfg.items())})"


@TRANSFORMS.register_module()
class SegAlbu:
    """Albumentations transforms (objects or ``dict(type=<albumentations class>, ...)``) on image and mask.

    Masks use nearest-neighbour interpolation; pad the mask with ``fill_mask=255``. Updates ``img``,
    ``gt_seg_map`` (when loaded) and ``img_shape``.

    Args:
        transforms: The albumentations transforms, applied in order.
        seed: Seed of the random state (None: fresh entropy).
    """

    def __init__(self, transforms: Sequence[dict | A.BasicTransform], seed: int | None = None) -> None:
        self.transforms_cfg = copy.deepcopy(list(transforms))
        self.aug = _SeededCompose([Albu._build(t) for t in transforms], seed)

    def __call__(self, results: dict) -> dict:
        """Transform ``results`` in place and return it."""
        _run(self.aug, results)
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(transforms={self.transforms_cfg})"
