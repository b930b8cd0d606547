"""Last step of the segmentation pipeline: pack the image(s) and the ground truth into model inputs."""

from collections.abc import Sequence

import numpy as np
import torch

from gen3d.registry import TRANSFORMS
from gen3d.structures.seg_sample import SegDataSample


def _chw(img: np.ndarray, key: str) -> torch.Tensor:
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"PackSegInputs expects {key} as an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackSegInputs:
    """Pack into ``{'inputs': (3, H, W) uint8, 'data_samples': SegDataSample}`` (+ ``'inputs_strong'``).

    ``inputs`` is unnormalised (the model's data preprocessor normalises). ``inputs_strong`` is added when the
    pipeline made a strong view (``img_strong``, same geometry as ``img``). The sample holds ``gt_sem_seg``
    ``(H, W)`` long when a mask was loaded (unlabeled samples have none; at ``img_shape``, or at ``ori_shape``
    when the mask was loaded after a test-time resize) and the meta fields ``meta_keys``
    found in ``results``.

    Args:
        meta_keys: Keys of ``results`` copied into the sample's metainfo.
    """

    DEFAULT_META_KEYS = (
        "img_path", "seg_map_path", "ori_shape", "img_shape", "flip", "flip_direction", "labeled", "ignore_index",
        "reduce_zero_label", "sample_idx",
    )

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        """Return the packed dict."""
        inputs = _chw(results["img"], "img")
        height, width = inputs.shape[1:]
        packed: dict = {"inputs": inputs}
        if results.get("img_strong") is not None:
            strong = _chw(results["img_strong"], "img_strong")
            if strong.shape != inputs.shape:
                raise ValueError(f"img_strong shape {tuple(strong.shape)} differs from img {tuple(inputs.shape)}")
            packed["inputs_strong"] = strong
        metainfo = {}
        for key in self.meta_keys:
            if key in results:
                value = results[key]
                metainfo[key] = tuple(int(v) for v in value) if key.endswith("_shape") else value
        sample = SegDataSample(metainfo=metainfo)
        mask = results.get("gt_seg_map")
        if mask is not None:
            ori = tuple(results.get("ori_shape", (height, width))[:2])
            if mask.shape not in ((height, width), ori):
                raise ValueError(f"gt_seg_map shape {mask.shape} is neither the image shape {(height, width)} nor "
                                 f"the original shape {ori}")
            sample.gt_sem_seg = torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))
        packed["data_samples"] = sample
        return packed

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(meta_keys={self.meta_keys})"
