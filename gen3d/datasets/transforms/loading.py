"""Loading steps of the anomaly pipeline: the image as 8-bit RGB and its binary ground-truth mask."""

import os.path as osp
import warnings

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from gen3d.registry import TRANSFORMS
from gen3d.runtime.sources import imread_rgb  # one reader for training and the edge runtime: same pixels

__all__ = ["LoadAnomalyImage", "LoadAnomalyMask", "imread_rgb"]


def _imread(path: str, what: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f"{what} file {path} not found")
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise ValueError(f"cannot read {what} file {path} ({err})") from err
    if img is None or img.size == 0:
        raise ValueError(f"cannot read {what} file {path} (corrupt or unsupported format)")
    return img


@TRANSFORMS.register_module()
class LoadAnomalyImage:
    """Load ``results['img_path']`` as an RGB uint8 image (see :func:`imread_rgb`).

    An image already in ``results['img']`` (put there in memory by a dataset, e.g. the synthetic-defect copies of
    :class:`~gen3d.datasets.anomaly.SyntheticDefectValDataset`) is kept instead of reading the file; it must be
    ``(H, W, 3)`` uint8.

    Adds ``img`` ``(H, W, 3)`` uint8, ``img_shape`` and ``ori_shape`` ``(H, W)``.
    """

    def __call__(self, results: dict) -> dict:
        """Load the image into ``results`` (unless it is already there) and return it."""
        img = results.get("img")
        if img is None:
            img = imread_rgb(results["img_path"])
        elif not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"the in-memory img of {results.get('img_path')} must be an (H, W, 3) uint8 array, got "
                             f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}")
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


@TRANSFORMS.register_module()
class LoadAnomalyMask:
    """Load the ground-truth mask of the image, binarised, at the image size. Run after :class:`LoadAnomalyImage`.

    The mask comes from ``results['mask_rle']`` (COCO RLE) if set, else ``results['mask_path']`` (any value
    ``> 0`` is defect, so VisA's region ids and 0/255 masks both work; colour masks use their colour channels),
    else it is filled with ``results.get('mask_fill', 0)`` (zeros for normal images). A mask already in
    ``results['gt_mask']`` (in memory, e.g. of a synthetic-defect copy) is kept, binarised, and must have the
    image's size. A mask file whose size differs from the image is resized with nearest-neighbour
    interpolation, with a warning naming the file.

    Adds ``gt_mask``: ``(H, W)`` uint8 in {0, 1}.
    """

    def __call__(self, results: dict) -> dict:
        """Load the mask into ``results`` and return it."""
        if "img_shape" not in results:
            raise KeyError("LoadAnomalyMask needs img_shape: put LoadAnomalyImage before it in the pipeline")
        height, width = results["img_shape"][:2]
        source = None
        if results.get("gt_mask") is not None:
            mask = np.asarray(results["gt_mask"])
            if mask.shape != (height, width):
                raise ValueError(f"the in-memory gt_mask of {results.get('img_path')} is {mask.shape}, the image "
                                 f"{(height, width)}")
        elif results.get("mask_rle") is not None:
            with warnings.catch_warnings():  # pycocotools' numpy-2 copy= DeprecationWarning
                warnings.simplefilter("ignore", DeprecationWarning)
                mask = mask_utils.decode(results["mask_rle"])
            source = f"the annotation of {results.get('img_path')}"
        elif results.get("mask_path"):
            source = results["mask_path"]
            mask = _imread(source, "mask")
            if mask.ndim == 3:
                mask = mask[:, :, :3].max(axis=2)
        else:
            mask = np.full((height, width), int(results.get("mask_fill", 0)), dtype=np.uint8)
        mask = (mask > 0).astype(np.uint8)
        if mask.shape != (height, width):
            warnings.warn(
                f"mask {source} has size {mask.shape[1]}x{mask.shape[0]} but image {results.get('img_path')} "
                f"is {width}x{height}; resized with nearest-neighbour interpolation",
                stacklevel=2,
            )
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        results["gt_mask"] = mask
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"
