"""Write an overlay per test image: image, heatmap, predicted and ground-truth contours, score and verdict."""

from __future__ import annotations

import os
import os.path as osp
from typing import Any

import numpy as np
from mmengine.hooks import Hook

from gen3d.registry import HOOKS
from gen3d.runtime.overlay import draw_overlay, save_rgb
from gen3d.runtime.paths import safe_component, safe_join

MAX_SIDE = 512  # overlays of large factory images are drawn at most this big per panel


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    return x.detach().cpu().float().numpy() if hasattr(x, "detach") else np.asarray(x)


@HOOKS.register_module()
class AnomalyVisualizationHook(Hook):
    """Draw test predictions to ``show_dir/<class>/<defect type>/<stem>.png`` (enabled by ``--show-dir``).

    Class, defect type and stem come from data (folder names, COCO category names, file names), so each is a
    :func:`~gen3d.runtime.paths.safe_component` and the picture never lands outside ``show_dir``.

    The picture uses the original image file (resized to at most :data:`MAX_SIDE`), the anomaly map on a fixed
    scale where the class's pixel threshold sits mid-colormap, the predicted mask contour (red) and the
    ground-truth contour (green), with the score and GOOD/DEFECT verdict in the caption.

    Args:
        draw: Whether to draw at all (``tools/test.py --show-dir`` turns it on).
        show_dir: Output directory.
    """

    priority = "NORMAL"

    def __init__(self, draw: bool = False, show_dir: str | None = None) -> None:
        self.draw = draw
        self.show_dir = show_dir

    def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        """Draw every sample of the batch."""
        if not self.draw or not self.show_dir or not outputs:
            return
        from gen3d.datasets.transforms.loading import imread_rgb

        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        thresholds = getattr(model, "thresholds", {})
        inputs = data_batch.get("inputs") if isinstance(data_batch, dict) else None
        for i, sample in enumerate(outputs):
            img_path = sample.metainfo.get("img_path", f"{batch_idx}_{i}.png")
            cls_name = sample.metainfo.get("cls_name", "default")
            try:
                image = imread_rgb(img_path)
            except (OSError, ValueError):
                image = np.ascontiguousarray(_np(inputs[i]).transpose(1, 2, 0).astype(np.uint8))
            scale = MAX_SIDE / max(image.shape[:2])
            if scale < 1:
                import cv2

                image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            label = sample.get("pred_label")
            picture = draw_overlay(
                image, _np(sample.anomaly_map), float(_np(sample.pred_score)),
                label=None if label is None else int(label), pred_mask=_np(sample.get("pred_mask")),
                gt_mask=_np(sample.get("gt_mask")), threshold=thresholds.get(cls_name, {}).get("pixel"),
                title=f"{cls_name}/{sample.metainfo.get('defect_type', '')}")
            stem = osp.splitext(osp.basename(str(img_path).replace("\\", "/")))[0]
            path = safe_join(self.show_dir, cls_name, sample.metainfo.get("defect_type", "unknown"),
                             safe_component(stem) + ".png")
            os.makedirs(osp.dirname(path), exist_ok=True)
            save_rgb(path, picture)
