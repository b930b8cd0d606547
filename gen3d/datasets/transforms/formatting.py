"""Last step of the anomaly pipeline: pack the image and the ground truth into model inputs."""

from collections.abc import Sequence

import numpy as np
import torch

from gen3d.registry import TRANSFORMS
from gen3d.structures.anomaly_sample import AnomalyDataSample


@TRANSFORMS.register_module()
class PackAnomalyInputs:
    """Pack ``img``, ``gt_label`` and ``gt_mask`` into ``{'inputs': ..., 'data_samples': AnomalyDataSample}``.

    ``inputs`` is the uint8 ``(3, H, W)`` image tensor, unnormalised (the model's data preprocessor
    normalises). The sample holds ``gt_label`` (long scalar), ``gt_mask`` (``(H, W)`` uint8 in {0, 1}, zeros
    when the pipeline loaded none) and the meta fields ``meta_keys`` found in ``results``.

    Args:
        meta_keys: Keys of ``results`` copied into the sample's metainfo.
    """

    DEFAULT_META_KEYS = ("img_path", "cls_name", "defect_type", "ori_shape", "img_shape")

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        """Return ``{'inputs': (3, H, W) uint8 tensor, 'data_samples': AnomalyDataSample}``."""
        img = results["img"]
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"PackAnomalyInputs expects an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
        height, width = img.shape[:2]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        mask = results.get("gt_mask")
        if mask is None:
            mask = np.zeros((height, width), dtype=np.uint8)
        if mask.shape != (height, width):
            raise ValueError(f"gt_mask shape {mask.shape} differs from the image shape {(height, width)}")
        metainfo = {}
        for key in self.meta_keys:
            if key in results:
                value = results[key]
                metainfo[key] = tuple(int(v) for v in value) if key.endswith("_shape") else value
        sample = AnomalyDataSample(metainfo=metainfo)
        sample.gt_label = torch.tensor(int(results["gt_label"]), dtype=torch.long)
        sample.gt_mask = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8))
        return {"inputs": inputs, "data_samples": sample}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(meta_keys={self.meta_keys})"
