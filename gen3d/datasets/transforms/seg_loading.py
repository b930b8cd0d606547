"""Loading steps of the segmentation pipeline: the image as 8-bit RGB and its mask as class ids.

Masks are read as stored values, never as colours: palette PNGs (VOC ``SegmentationClass``, GTA5 labels) give
their palette indices, grey PNGs their values. A COCO record (``seg_anns``) is rasterised with pycocotools.
"""

import warnings

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image

from gen3d.registry import TRANSFORMS

from .loading import LoadAnomalyImage

MISMATCH_POLICIES = ("error", "resize")


def read_label_map(path: str) -> np.ndarray:
    """Read a mask file as class ids.

    Args:
        path: PNG (or other lossless) mask: palette (``P``), grey (``L``), 16-bit grey (values must be < 256), or
            RGB whose three channels are equal.

    Returns:
        ``(H, W)`` uint8 array of raw mask values.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A colour-coded RGB mask or values above 255, naming the file.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.array(img)
    except FileNotFoundError:
        raise FileNotFoundError(f"mask file {path} not found") from None
    except OSError as err:
        raise ValueError(f"cannot read mask file {path} ({err})") from err
    if arr.ndim == 3:
        if arr.shape[2] >= 3 and (np.any(arr[..., 0] != arr[..., 1]) or np.any(arr[..., 0] != arr[..., 2])):
            raise ValueError(
                f"mask file {path} is a colour ({mode}) image; masks must hold class ids (grey or palette PNG)"
            )
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"mask file {path} has values outside [0, 255] (mode {mode})")
        arr = arr.astype(np.uint8)
    return arr


def rasterize_coco(anns: list[dict], height: int, width: int, fill: int) -> np.ndarray:
    """Paint COCO annotations (polygons, RLE or uncompressed RLE) into one class-id mask, in list order.

    Args:
        anns: ``[{'label': int, 'segmentation': polygons | RLE}, ...]``; later entries are painted on top.
        height: Mask height.
        width: Mask width.
        fill: Value of the pixels no annotation covers.

    Returns:
        ``(height, width)`` uint8 array.
    """
    out = np.full((height, width), fill, dtype=np.uint8)
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy= DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        for ann in anns:
            seg = ann["segmentation"]
            if isinstance(seg, list):
                if not seg:
                    continue
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, height, width)
            else:
                rle = dict(seg)
                if isinstance(rle["counts"], str):
                    rle["counts"] = rle["counts"].encode()
            out[mask_utils.decode(rle).astype(bool)] = int(ann["label"])
    return out


@TRANSFORMS.register_module()
class LoadSegImage(LoadAnomalyImage):
    """Load ``results['img_path']`` as RGB uint8 (see :func:`~gen3d.datasets.transforms.imread_rgb`).

    The same step as :class:`LoadAnomalyImage`, under the name segmentation pipelines use. Adds ``img``
    ``(H, W, 3)`` uint8, ``img_shape`` and ``ori_shape`` ``(H, W)``.
    """


@TRANSFORMS.register_module()
class LoadSegMask:
    """Load the class-id mask of a labeled record; a no-op for unlabeled records (``labeled`` False).

    Source: ``seg_anns`` (COCO, rasterised at ``height`` x ``width`` with ``seg_fill`` elsewhere) or
    ``seg_map_path``. Then the record's ``label_map`` lookup table (raw value -> class id, e.g. GTA5 ids ->
    Cityscapes train ids) and ``reduce_zero_label`` (0 -> ignore, others - 1) are applied.

    Adds ``gt_seg_map``: ``(H, W)`` uint8 class ids, ``ignore_index`` (255) for ignored pixels.

    Args:
        size_mismatch: When the mask size differs from the image's: ``'error'`` (ValueError naming both
            files) or ``'resize'`` (nearest-neighbour resize to the image size, with a warning). The image size
            is ``ori_shape`` (so the mask may be loaded after a resize, to keep the ground truth at the original
            size as MMSeg's test pipelines do); without it the mask is taken as is.
    """

    def __init__(self, size_mismatch: str = "error") -> None:
        if size_mismatch not in MISMATCH_POLICIES:
            raise ValueError(f"size_mismatch must be one of {MISMATCH_POLICIES}, got {size_mismatch!r}")
        self.size_mismatch = size_mismatch

    def __call__(self, results: dict) -> dict:
        """Load the mask into ``results`` and return it."""
        if results.get("labeled", True) is False:
            return results
        ignore = int(results.get("ignore_index", 255))
        if results.get("seg_anns") is not None:
            source = f"the annotations of {results.get('img_path')}"
            mask = rasterize_coco(results["seg_anns"], results["height"], results["width"],
                                  int(results.get("seg_fill", 0)))
        elif results.get("seg_map_path"):
            source = results["seg_map_path"]
            mask = read_label_map(source)
        else:
            raise KeyError(f"labeled record of {results.get('img_path')} has neither seg_map_path nor seg_anns")
        if results.get("label_map") is not None:
            mask = np.asarray(results["label_map"], dtype=np.uint8)[mask]
        if results.get("reduce_zero_label"):
            mask = mask.astype(np.int16) - 1
            mask[mask < 0] = ignore
            mask[mask == ignore - 1] = ignore
            mask = mask.astype(np.uint8)
        shape = results.get("ori_shape", results.get("img_shape"))
        if shape is not None and mask.shape != tuple(shape[:2]):
            height, width = shape[:2]
            msg = (f"mask {source} is {mask.shape[1]}x{mask.shape[0]} (WxH) but image {results.get('img_path')} "
                   f"is {width}x{height}")
            if self.size_mismatch == "error":
                raise ValueError(msg)
            warnings.warn(f"{msg}; resized with nearest-neighbour interpolation", stacklevel=2)
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        results["gt_seg_map"] = mask
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size_mismatch={self.size_mismatch!r})"
