"""Per-class anomaly-detection metric for unified (multi-class) models such as UniAD (arXiv 2206.03687).

Inference is class-agnostic; only reporting is per class. For every product class this metric reports image
AUROC, pixel AUROC, pixel AUPRO, image and pixel F1-max and pixel AP, their unweighted mean over classes (the
UniAD ``mean_*`` convention), and a per-class decision threshold for the image score and for the anomaly map.
On a validation split of normal images only it reports the mean normal score instead, a checkpoint-selection
criterion (lower is better) that a model copying its input wins, and quantile thresholds. A validation with
defects (:class:`~gen3d.datasets.anomaly.SyntheticDefectValDataset`: the held-out good images plus synthetic-defect
copies) reports the AUROC / F1 keys instead, to select checkpoints by, and ``threshold_rule`` picks the rule.

Thresholds are fitted (and reported as ``threshold/...``) on the validation split only. In a test run the model
decides with the thresholds stored in the checkpoint; once told so (:meth:`AnomalyMetric.use_stored_thresholds`)
the metric reports exactly those, as ``stored_threshold/...``, and fits none on the test split.
"""

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from gen3d.registry import METRICS

from .anomaly_functional import AUPRO_FPR_LIMIT, average_precision, f1_max, image_auroc, pixel_aupro, pixel_auroc
from .thresholds import DEFAULT_NORMAL_QUANTILE, THRESHOLD_RULES, fit_threshold

__all__ = ["AnomalyMetric", "METRIC_KEYS", "SELECTION_KEY", "STORED_THRESHOLD_PREFIX", "THRESHOLD_PREFIX"]

#: Per-class metric names, in report order; every one is also averaged as ``'mean/<name>'``.
METRIC_KEYS = ("image_auroc", "pixel_auroc", "pixel_aupro", "image_f1max", "pixel_f1max", "pixel_ap")
#: Reported for classes whose samples are all normal; averaged as ``'mean/normal_score_mean'``.
NORMAL_SCORE_KEY = "normal_score_mean"
#: Thresholds fitted on the evaluated split (validation): ``'threshold/<cls>/<image|pixel>'``.
THRESHOLD_PREFIX = "threshold/"
#: Thresholds the decisions used, from the checkpoint (test): ``'stored_threshold/<cls>/<image|pixel>'``.
STORED_THRESHOLD_PREFIX = "stored_threshold/"
#: Checkpoint-selection key of a validation with defects: the mean of ``mean/image_auroc`` and
#: ``mean/pixel_aupro`` (image AUROC alone where pixel metrics are off).
SELECTION_KEY = "mean/selection_score"
#: Class name used for samples without a ``cls_name``.
DEFAULT_CLASS = "default"

_FP16_MAX = float(np.finfo(np.float16).max)


def _get(sample: BaseDataElement | dict, key: str) -> Any:
    """Read a data or meta field from a sample, or from its ``to_dict()`` (flat, or with a ``metainfo`` dict)."""
    if isinstance(sample, BaseDataElement):
        return sample.get(key)
    value = sample.get(key)
    if value is None and isinstance(sample.get("metainfo"), dict):
        value = sample["metainfo"].get(key)
    return value


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_map(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as an ``(H, W)`` array, dropping leading singleton dimensions such as ``(1, H, W)``."""
    arr = _to_numpy(x)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (H, W), got shape {arr.shape}")
    return arr


@METRICS.register_module()
class AnomalyMetric(BaseMetric):
    """Image and pixel anomaly metrics per class, their unweighted mean, and per-class thresholds.

    ``compute_metrics`` returns a flat dict of floats with, for each class ``<cls>`` (the ``cls_name`` meta
    field, ``'default'`` when absent):

    * ``'<cls>/image_auroc'``, ``'<cls>/pixel_auroc'``, ``'<cls>/pixel_aupro'``, ``'<cls>/image_f1max'``,
      ``'<cls>/pixel_f1max'``, ``'<cls>/pixel_ap'``: fractions in [0, 1] (NaN with a warning when undefined,
      e.g. a class without normal test images). Pixel keys only when ``compute_pixel``.
    * ``'mean/<name>'``: unweighted mean over the classes where ``<name>`` is defined (NaN skipped).
    * ``'threshold/<cls>/image'`` and ``'threshold/<cls>/pixel'``, by ``threshold_rule``: ``'auto'``
      F1-adaptive when the class's samples hold defects (image labels, resp. mask pixels), else the ``quantile``
      of the normal image scores, resp. of the normal pixels of normal images; ``'f1'`` always F1-adaptive (an
      error for a class without defects); ``'quantile'`` always the quantile of the normal ones (see
      :mod:`gen3d.evaluation.metrics.thresholds`). Only while fitting
      (validation); after :meth:`use_stored_thresholds` (test) none is fitted and
      ``'stored_threshold/<cls>/image'`` / ``'stored_threshold/<cls>/pixel'`` report the checkpoint's thresholds
      the decisions (``pred_label`` / ``pred_mask``) used, for the evaluated classes that have them.
    * For a class whose samples are all normal (validation split of good images): ``'<cls>/normal_score_mean'``
      and ``'mean/normal_score_mean'`` (lower is better); its AUROC / F1 / AP keys are omitted, without warning.
    * ``'mean/selection_score'`` where image AUROC is defined (a validation with defects): the mean of
      ``'mean/image_auroc'`` and ``'mean/pixel_aupro'`` (image AUROC alone without pixel metrics), the key the
      ``*_synval.py`` configs select the best checkpoint by.

    Args:
        quantile: quantile of normal scores used as threshold by the quantile rule (``0.99`` ~ 1 % FPR).
        threshold_rule: ``'auto'`` (default; on a normal-only validation split it is the quantile rule),
            ``'f1'`` (F1-adaptive; needs a validation with defects, e.g.
            :class:`~gen3d.datasets.anomaly.SyntheticDefectValDataset`) or ``'quantile'``.
        fpr_limit: FPR integration limit of AUPRO.
        pixel_downsample: keep every ``pixel_downsample``-th row and column of the anomaly map and mask, to bound
            memory (pixel metrics are then computed on the subsampled grid). 1 keeps every pixel.
        compute_pixel: whether to store anomaly maps and compute the pixel metrics and thresholds.
        collect_device: device used to gather results across ranks, ``'cpu'`` or ``'gpu'``.
        prefix: prefix added to every key by mmengine (``'<prefix>/<key>'``); none by default.
        report_dir: where :func:`~gen3d.evaluation.metrics.anomaly_plots.write_anomaly_report` writes the per-image
            scores CSV and the per-class ROC/PR and score-histogram figures (``tools/test.py --out`` sets it to the
            results file's folder); ``None`` writes nothing.
    """

    def __init__(
        self,
        quantile: float = DEFAULT_NORMAL_QUANTILE,
        threshold_rule: str = "auto",
        fpr_limit: float = AUPRO_FPR_LIMIT,
        pixel_downsample: int = 1,
        compute_pixel: bool = True,
        collect_device: str = "cpu",
        prefix: str | None = None,
        report_dir: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {quantile}")
        if threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"threshold_rule must be one of {THRESHOLD_RULES}, got {threshold_rule!r}")
        if not 0.0 < fpr_limit <= 1.0:
            raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
        if int(pixel_downsample) != pixel_downsample or pixel_downsample < 1:
            raise ValueError(f"pixel_downsample must be a positive integer, got {pixel_downsample}")
        self.quantile = float(quantile)
        self.threshold_rule = threshold_rule
        self.fpr_limit = float(fpr_limit)
        self.pixel_downsample = int(pixel_downsample)
        self.compute_pixel = bool(compute_pixel)
        self.stored_thresholds: dict[str, dict[str, float]] | None = None
        self.report_dir = report_dir

    def use_stored_thresholds(self, thresholds: Mapping[str, Mapping[str, float]] | None) -> None:
        """Report the thresholds the model decides with instead of fitting thresholds on the evaluated split.

        Called for a test run (e.g. by :class:`~gen3d.engine.hooks.AnomalyThresholdHook` before the test epoch)
        with the checkpoint's thresholds; ``{}`` (a checkpoint without thresholds) reports none. ``None`` goes
        back to fitting, the validation behaviour.

        Args:
            thresholds: ``{cls: {'image': t, 'pixel': t}}`` or ``None``.
        """
        if thresholds is None:
            self.stored_thresholds = None
        else:
            self.stored_thresholds = {str(c): {str(k): float(v) for k, v in t.items()} for c, t in thresholds.items()}

    def process(self, data_batch: Any, data_samples: Sequence[BaseDataElement | dict]) -> None:
        """Store the score, label and (subsampled, float16) anomaly map and mask of each sample on the CPU.

        Args:
            data_batch: the dataloader batch (unused).
            data_samples: :class:`~gen3d.structures.AnomalyDataSample` objects or their ``to_dict()``, with
                ``pred_score`` (scalar), ``anomaly_map`` ``(H, W)`` (or ``(1, H, W)``), ``gt_label`` (0/1;
                derived from the mask when absent), optional ``gt_mask`` ``(H, W)`` in {0, 1} (zeros when absent)
                and meta field ``cls_name``.
        """
        s = self.pixel_downsample
        for sample in data_samples:
            score = _to_numpy(_get(sample, "pred_score")).astype(np.float64)
            if score.size != 1:
                raise ValueError(f"pred_score must be a scalar, got shape {score.shape}")
            mask = _get(sample, "gt_mask")
            mask = None if mask is None else _as_map(mask, "gt_mask").astype(bool)
            label = _get(sample, "gt_label")
            if label is None:
                if mask is None:
                    raise ValueError("a sample needs gt_label or gt_mask")
                label = bool(mask.any())
            pred_label = _get(sample, "pred_label")
            result = {
                "pred_label": None if pred_label is None else int(_to_numpy(pred_label).reshape(-1)[0]),
                "cls_name": str(_get(sample, "cls_name") or DEFAULT_CLASS),
                "pred_score": float(score.reshape(-1)[0]),
                "gt_label": int(_to_numpy(label).reshape(-1)[0]),
                "img_path": _get(sample, "img_path"),
            }
            if self.compute_pixel:
                amap = _as_map(_get(sample, "anomaly_map"), "anomaly_map")
                if mask is not None and mask.shape != amap.shape:
                    raise ValueError(f"gt_mask {mask.shape} and anomaly_map {amap.shape} differ in shape")
                amap = amap[::s, ::s]
                # float16 halves memory; maps beyond its range (rare) stay float32.
                dtype = np.float16 if np.abs(amap).max(initial=0.0) <= _FP16_MAX else np.float32
                result["anomaly_map"] = amap.astype(dtype)
                # None stands for an all-zero mask, expanded in compute_metrics.
                result["gt_mask"] = None if mask is None else np.ascontiguousarray(mask[::s, ::s])
            self.results.append(result)

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Group the stored results by class and compute the flat metric dict described in the class docstring.

        Args:
            results: the per-sample dicts stored by :meth:`process`, gathered from all ranks.

        Returns:
            Flat ``{key: float}`` dict: per-class keys, then ``'mean/...'``, then ``'threshold/...'`` (fitted) or,
            after :meth:`use_stored_thresholds`, ``'stored_threshold/...'``.
        """
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            groups[r["cls_name"]].append(r)
        per_class: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        stored = self.stored_thresholds
        for cls in sorted(groups):
            values, thr = self._class_metrics(groups[cls], fit=stored is None, cls_name=cls)
            per_class.update({f"{cls}/{k}": v for k, v in values.items()})
            if stored is None:
                thresholds.update({f"{THRESHOLD_PREFIX}{cls}/{k}": v for k, v in thr.items()})
            else:
                kinds = ("image", "pixel") if self.compute_pixel else ("image",)
                thresholds.update({f"{STORED_THRESHOLD_PREFIX}{cls}/{k}": stored[cls][k]
                                   for k in kinds if k in stored.get(cls, {})})
        means = {}
        for key in (*METRIC_KEYS, NORMAL_SCORE_KEY):
            vals = [per_class[f"{cls}/{key}"] for cls in sorted(groups) if f"{cls}/{key}" in per_class]
            finite = [v for v in vals if math.isfinite(v)]
            if vals:
                means[f"mean/{key}"] = float(np.mean(finite)) if finite else float("nan")
        selection = self._selection_score(means)
        if selection is not None:
            means[SELECTION_KEY] = selection
        if self.report_dir:
            from .anomaly_plots import write_anomaly_report

            image_thr = {cls: (stored or {}).get(cls, {}).get("image") if stored is not None
                         else thresholds.get(f"{THRESHOLD_PREFIX}{cls}/image") for cls in groups}
            write_anomaly_report(results, self.report_dir, image_thr)
        return {**per_class, **means, **thresholds}

    def _selection_score(self, means: Mapping[str, float]) -> float | None:
        """``SELECTION_KEY`` of a validation with defects: mean of image AUROC and pixel AUPRO, or ``None``.

        Image AUROC alone saturates on a small validation of easy synthetic defects (several checkpoints at 1.0,
        and ``rule='greater'`` then keeps the first, least trained one); with four good images and four copies
        per class it moves in steps of 1/16. The localisation term ranks those checkpoints further.
        """
        auroc = means.get("mean/image_auroc")
        if auroc is None or not math.isfinite(auroc):
            return None
        aupro = means.get("mean/pixel_aupro") if self.compute_pixel else None
        if aupro is None or not math.isfinite(aupro):
            return float(auroc)
        return 0.5 * (float(auroc) + float(aupro))

    @staticmethod
    def _decision_metrics(results: list[dict], labels: np.ndarray) -> dict[str, float]:
        """Pass/fail quality at the deployed thresholds (the ``pred_label`` the model decided), if present.

        Returns:
            ``defect_recall`` (share of defective images flagged), ``false_alarm_rate`` (share of good images
            flagged) and ``decision_accuracy``; each only when defined.
        """
        if any(r.get("pred_label") is None for r in results):
            return {}
        pred = np.array([r["pred_label"] for r in results], dtype=bool)
        out = {"decision_accuracy": float((pred == labels).mean())}
        if labels.any():
            out["defect_recall"] = float(pred[labels].mean())
        if (~labels).any():
            out["false_alarm_rate"] = float(pred[~labels].mean())
        return out

    @staticmethod
    def to_results_json(flat: dict[str, Any]) -> dict[str, Any]:
        """The results JSON of the DESIGN contract (see :func:`anomaly_report.to_results_json`)."""
        from .anomaly_report import to_results_json

        return to_results_json(flat)

    @staticmethod
    def format_table(results_json: dict[str, Any]) -> str:
        """A per-class text table of a results JSON."""
        from .anomaly_report import format_table

        return format_table(results_json)

    def _class_metrics(self, results: list[dict], fit: bool = True,
                       cls_name: str = DEFAULT_CLASS) -> tuple[dict[str, float], dict[str, float]]:
        """Metrics and thresholds of one class.

        Args:
            results: The class's stored results.
            fit: Fit thresholds (validation, by ``threshold_rule``); ``False`` fits none.
            cls_name: The class, named in errors.

        Returns:
            ``({metric name: value}, {'image' | 'pixel': threshold})``.
        """
        scores = np.array([r["pred_score"] for r in results], dtype=np.float64)
        labels = np.array([r["gt_label"] for r in results], dtype=bool)
        values: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        f1_thr = None
        if labels.any():
            values["image_auroc"] = image_auroc(scores, labels)
            values["image_f1max"], f1_thr = f1_max(scores, labels)
        else:
            values[NORMAL_SCORE_KEY] = float(scores.mean())
        if fit:
            thresholds["image"] = self._fit(scores, labels, None, f1_thr, cls_name, "image")
        values.update(self._decision_metrics(results, labels))
        if not self.compute_pixel:
            return values, thresholds

        maps = [r["anomaly_map"] for r in results]
        masks = [r["gt_mask"] if r["gt_mask"] is not None else np.zeros(r["anomaly_map"].shape, bool) for r in results]
        pix_scores = np.concatenate([m.reshape(-1) for m in maps]).astype(np.float32)
        pix_labels = np.concatenate([m.reshape(-1) for m in masks])
        pix_thr = None
        if labels.any():
            values["pixel_auroc"] = pixel_auroc(pix_scores, pix_labels)
            values["pixel_aupro"] = pixel_aupro(maps, masks, fpr_limit=self.fpr_limit)
            values["pixel_f1max"], pix_thr = f1_max(pix_scores, pix_labels)
            values["pixel_ap"] = average_precision(pix_scores, pix_labels)
        if fit:
            # The quantile rule uses the normal pixels, preferably those of normal images.
            from_normal_img = np.repeat(~labels, [m.size for m in maps])
            normal = ~pix_labels & from_normal_img if from_normal_img.any() else ~pix_labels
            thresholds["pixel"] = self._fit(pix_scores, pix_labels, normal, pix_thr, cls_name, "pixel")
        return values, thresholds

    def _fit(self, scores: np.ndarray, labels: np.ndarray, normal: np.ndarray | None, f1_thr: float | None,
             cls_name: str, kind: str) -> float:
        """One class's ``kind`` (``'image'`` / ``'pixel'``) threshold by ``threshold_rule``; errors name the class."""
        try:
            return fit_threshold(scores, labels, self.threshold_rule, self.quantile, normal=normal,
                                 f1_threshold=f1_thr)
        except ValueError as err:
            what = "defective image" if kind == "image" else "defect pixel"
            hint = (f"the validation of class {cls_name!r} has no {what}: threshold_rule='f1' needs defects in "
                    "the validation split (wrap it in SyntheticDefectValDataset) or use threshold_rule='auto'"
                    if self.threshold_rule == "f1" else f"class {cls_name!r}: {err}")
            raise ValueError(f"cannot fit the {kind} threshold: {hint}") from err
