"""Semantic-segmentation metric: mIoU, per-class IoU and accuracy, pixel accuracy, from one confusion matrix.

As U2PL's ``eval.py`` and MMSeg's ``IoUMetric`` (spec A8, C3): intersections and unions are summed over the
whole evaluation set before dividing (not averaged per image), and pixels whose ground truth is the ignore
index (255) are skipped. A prediction outside ``[0, C)`` counts as wrong for its ground-truth class.

Undefined values: a class absent from both the ground truth and the predictions has IoU NaN (0 / 0) and is left
out of ``mIoU``; a class absent from the ground truth has accuracy NaN and is left out of ``mAcc``. A class
predicted but absent from the ground truth has IoU 0 and counts. Values are fractions in [0, 1]; the table
prints percentages.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from gen3d.registry import METRICS

__all__ = ["IoUMetric", "confusion_matrix", "metrics_from_confusion"]


def _as_label_map(x: Any, name: str) -> np.ndarray:
    """``x`` as an ``(H, W)`` int64 array; accepts tensors, arrays, ``(1, H, W)`` and ``{'data': ...}``."""
    if isinstance(x, BaseDataElement) or (isinstance(x, dict) and "data" in x):
        x = x.get("data") if isinstance(x, dict) else x.data
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (H, W), got shape {arr.shape}")
    return arr.astype(np.int64)


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Pixel confusion matrix of one image.

    Args:
        pred: ``(H, W)`` predicted class ids.
        gt: ``(H, W)`` ground-truth class ids; ``ignore_index`` pixels are skipped (as are ids outside
            ``[0, num_classes)``).
        num_classes: Number of classes C.
        ignore_index: Ground-truth value of ignored pixels.

    Returns:
        ``(C, C + 1)`` int64 counts, rows = ground truth, columns = prediction; column C counts predictions
        outside ``[0, C)``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    valid = (gt != ignore_index) & (gt >= 0) & (gt < num_classes)
    g = gt[valid]
    p = pred[valid]
    p = np.where((p >= 0) & (p < num_classes), p, num_classes)
    counts = np.bincount(g * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1).astype(np.int64)


def metrics_from_confusion(conf: np.ndarray) -> dict[str, np.ndarray | float]:
    """IoU and accuracy from a ``(C, C + 1)`` confusion matrix (see the module docstring for NaN rules).

    Returns:
        ``{'IoU': (C,), 'Acc': (C,), 'mIoU': float, 'mAcc': float, 'aAcc': float}``; NaN where undefined.
    """
    num_classes = conf.shape[0]
    tp = np.diag(conf[:, :num_classes]).astype(np.float64)
    gt_count = conf.sum(axis=1).astype(np.float64)
    pred_count = conf[:, :num_classes].sum(axis=0).astype(np.float64)
    union = gt_count + pred_count - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt_count > 0, tp / gt_count, np.nan)
    total = gt_count.sum()
    return dict(
        IoU=iou,
        Acc=acc,
        mIoU=float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else math.nan,
        mAcc=float(np.nanmean(acc)) if np.any(~np.isnan(acc)) else math.nan,
        aAcc=float(tp.sum() / total) if total > 0 else math.nan,
    )


@METRICS.register_module()
class IoUMetric(BaseMetric):
    """mIoU, mean accuracy, pixel accuracy and per-class IoU / accuracy over a dataset.

    ``process`` stores one ``(C, C + 1)`` confusion matrix per sample (so mmengine drops the samples a
    distributed sampler padded); ``compute_metrics`` sums them and returns a flat dict of floats in [0, 1]:
    ``'mIoU'``, ``'mAcc'``, ``'aAcc'``, ``'IoU/<class>'`` and ``'Acc/<class>'`` (NaN where undefined), and logs
    :meth:`format_table`.

    Args:
        ignore_index: Ground-truth value of ignored pixels.
        num_classes: Number of classes; None takes ``len(dataset_meta['classes'])`` or ``len(class_names)``.
        class_names: Class names; None takes ``dataset_meta['classes']``, else ``'0'``, ``'1'``, ...
        collect_device: Device used to gather results across ranks, ``'cpu'`` or ``'gpu'``.
        prefix: Prefix added to every key by mmengine; none by default.
    """

    default_prefix: str | None = None

    def __init__(
        self,
        ignore_index: int = 255,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = int(ignore_index)
        self._num_classes = None if num_classes is None else int(num_classes)
        self._class_names = None if class_names is None else tuple(class_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names from the argument, the dataset meta, or ``'0'..'C-1'``."""
        if self._class_names is not None:
            return self._class_names
        classes = (self.dataset_meta or {}).get("classes")
        if classes:
            return tuple(classes)
        if self._num_classes is not None:
            return tuple(str(i) for i in range(self._num_classes))
        raise ValueError("IoUMetric needs the classes: pass num_classes / class_names or a dataset with classes")

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return self._num_classes if self._num_classes is not None else len(self.class_names)

    def process(self, data_batch: Any, data_samples: Sequence[BaseDataElement | dict]) -> None:
        """Add one confusion matrix per sample.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: :class:`~gen3d.structures.SegDataSample` objects or their ``to_dict()``, with
                ``pred_sem_seg`` and ``gt_sem_seg``, both ``(H, W)`` (or ``(1, H, W)``) at the same size.
        """
        num_classes = self.num_classes
        for sample in data_samples:
            pred = _as_label_map(sample.get("pred_sem_seg"), "pred_sem_seg")
            gt = _as_label_map(sample.get("gt_sem_seg"), "gt_sem_seg")
            self.results.append(confusion_matrix(pred, gt, num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the confusion matrices and compute the flat metric dict (see the class docstring)."""
        if not results:
            raise ValueError("IoUMetric got no sample")
        conf = np.sum(np.stack(results), axis=0)
        out = metrics_from_confusion(conf)
        flat: dict[str, float] = {"mIoU": out["mIoU"], "mAcc": out["mAcc"], "aAcc": out["aAcc"]}
        for name, iou, acc in zip(self.class_names, out["IoU"], out["Acc"]):
            flat[f"IoU/{name}"] = float(iou)
            flat[f"Acc/{name}"] = float(acc)
        print_log("\n" + self.format_table(flat), logger="current")
        return flat

    @staticmethod
    def to_results_json(flat: dict[str, float]) -> dict[str, Any]:
        """``{"mIoU", "aAcc", "mAcc", "per_class": {cls: {"IoU", "Acc"}}}`` as fractions; NaN becomes None.

        Args:
            flat: The dict of :meth:`compute_metrics` (an mmengine ``prefix/`` on the keys is stripped).
        """

        def clean(v: float) -> float | None:
            return None if v is None or math.isnan(v) else float(v)

        flat = {k.split("/", 1)[1] if k.split("/", 1)[0] not in ("IoU", "Acc") and "/" in k else k: v
                for k, v in flat.items()}
        per_class: dict[str, dict[str, float | None]] = {}
        for key, value in flat.items():
            kind, _, name = key.partition("/")
            if kind in ("IoU", "Acc") and name:
                per_class.setdefault(name, {})[kind] = clean(value)
        return {"mIoU": clean(flat.get("mIoU")), "aAcc": clean(flat.get("aAcc")), "mAcc": clean(flat.get("mAcc")),
                "per_class": per_class}

    @staticmethod
    def format_table(results: dict[str, Any]) -> str:
        """A plain-text table of per-class IoU / Acc and the summary, in percent with one decimal.

        Args:
            results: The flat dict of :meth:`compute_metrics` or the dict of :meth:`to_results_json`.
        """
        data = results if "per_class" in results else IoUMetric.to_results_json(results)

        def pct(v: float | None) -> str:
            return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"

        names = list(data["per_class"])
        width = max([len("Class"), len("mean")] + [len(n) for n in names])
        lines = [f"{'Class':<{width}}  {'IoU':>6}  {'Acc':>6}", "-" * (width + 16)]
        for name in names:
            row = data["per_class"][name]
            lines.append(f"{name:<{width}}  {pct(row.get('IoU')):>6}  {pct(row.get('Acc')):>6}")
        lines.append("-" * (width + 16))
        lines.append(f"{'mean':<{width}}  {pct(data['mIoU']):>6}  {pct(data['mAcc']):>6}")
        lines.append(f"aAcc {pct(data['aAcc'])}   mIoU {pct(data['mIoU'])}   mAcc {pct(data['mAcc'])}")
        return "\n".join(lines)
