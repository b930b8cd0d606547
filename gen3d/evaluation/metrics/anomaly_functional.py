"""Threshold-free anomaly-detection metrics as pure numpy functions.

Image AUROC, pixel AUROC, pixel AUPRO, F1-max and average precision, computed on the scores of one product
class (the caller groups by class; UniAD, arXiv 2206.03687, reports the unweighted mean over classes).
ROC / PR curves come from scikit-learn (after merging tied scores into weighted samples, which leaves the curves
unchanged and keeps millions of pixels cheap); only AUPRO, which no maintained numpy library provides, is
written here.

Conventions:
    * Higher score means more anomalous; labels are 1 for anomalous, 0 for normal.
    * AUC is never flipped: a detector worse than chance reports AUROC < 0.5 (the official UniAD code replaces
      AUC by 1 - AUC in that case, which hides bugs).
    * Undefined inputs (a single label class, no anomalous pixel, no normal pixel) return ``float('nan')`` and
      emit a :class:`UserWarning` naming the reason, so that a per-class mean can skip them with ``nanmean``.

AUPRO follows the MVTec AD definition (Bergmann et al., IJCV 2021, ``compute_pro``): ground-truth regions are
the 8-connected components of each image's mask, pooled over the class's test set; PRO(t) is the mean over
regions of the fraction of region pixels with ``score >= t``, FPR(t) the fraction of normal pixels (mask 0, all
images) with ``score >= t``; the area under PRO(FPR) for FPR in ``[0, fpr_limit]`` is divided by ``fpr_limit``.
"""

import warnings
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["AUPRO_FPR_LIMIT", "average_precision", "f1_max", "image_auroc", "pixel_aupro", "pixel_auroc"]

#: FPR integration limit of AUPRO used by MVTec AD, anomalib and most papers.
AUPRO_FPR_LIMIT = 0.3

ArrayOrMaps = np.ndarray | Sequence[np.ndarray]


def _flatten(x: ArrayOrMaps) -> np.ndarray:
    """Concatenate an ``(N, H, W)`` array or a sequence of ``(H_i, W_i)`` maps into one 1-D array."""
    if isinstance(x, np.ndarray):
        return x.reshape(-1)
    if len(x) == 0:
        return np.zeros(0)
    return np.concatenate([np.asarray(m).reshape(-1) for m in x])


def _binary_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Return ``labels`` as a bool array, checking that it holds only 0 and 1."""
    labels = np.asarray(labels)
    if labels.dtype != bool:
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{name} must contain only 0 and 1, got values {np.unique(labels)[:10]}")
        labels = labels.astype(bool)
    return labels


def _check_pair(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten, validate and return ``(scores, bool labels)``; float16/32 scores keep their dtype (same order)."""
    scores = np.asarray(scores).reshape(-1)
    if scores.dtype not in (np.float16, np.float32, np.float64):
        scores = scores.astype(np.float64)
    labels = _binary_labels(labels, "labels").reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in size: {scores.shape} vs {labels.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    return scores, labels


def _merge_ties(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge samples of equal score and label into weighted samples for scikit-learn's ``sample_weight``.

    ROC and PR curves only depend on the counts of positives and negatives per distinct score, so the weighted
    problem gives exactly the same curves while scikit-learn sorts at most ``2 * D`` samples (``D`` distinct
    scores; at most 65536 for float16 anomaly maps) instead of millions of pixels.

    Returns:
        ``(scores, labels, weights)``, each ``(M,)`` with ``M <= 2 * D``.
    """
    uniq, inverse = np.unique(scores, return_inverse=True)
    n_pos = np.bincount(inverse, weights=labels, minlength=uniq.size)
    n_neg = np.bincount(inverse, minlength=uniq.size) - n_pos
    merged = np.r_[uniq, uniq].astype(np.float64)
    merged_labels = np.r_[np.ones(uniq.size, bool), np.zeros(uniq.size, bool)]
    weights = np.r_[n_pos, n_neg]
    keep = weights > 0
    return merged[keep], merged_labels[keep], weights[keep]


def _undefined(metric: str, reason: str) -> float:
    warnings.warn(f"{metric} is undefined: {reason}; returning NaN.", UserWarning, stacklevel=3)
    return float("nan")


def _auroc(scores: np.ndarray, labels: np.ndarray, metric: str) -> float:
    scores, labels = _check_pair(scores, labels)
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.size:
        kind = "anomalous" if n_pos == 0 else "normal"
        return _undefined(metric, f"no {kind} sample among {labels.size}")
    scores, labels, weights = _merge_ties(scores, labels)
    from sklearn.metrics import roc_auc_score  # imported here: ~1 s, paid only where a metric is computed

    return float(roc_auc_score(labels, scores, sample_weight=weights))


def image_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of image scores (never flipped).

    Args:
        scores: ``(N,)`` image anomaly scores.
        labels: ``(N,)`` image labels in {0, 1}.

    Returns:
        AUROC in [0, 1], or NaN (with a warning) when ``labels`` holds a single class.
    """
    return _auroc(scores, labels, "image AUROC")


def pixel_auroc(anomaly_maps: ArrayOrMaps, gt_masks: ArrayOrMaps) -> float:
    """Area under the ROC curve over all pixels of all images (never flipped).

    Args:
        anomaly_maps: ``(N, H, W)`` anomaly maps, or a sequence of N ``(H_i, W_i)`` maps.
        gt_masks: ground-truth masks in {0, 1}, same shapes as ``anomaly_maps``.

    Returns:
        AUROC in [0, 1], or NaN (with a warning) when there is no anomalous or no normal pixel.
    """
    return _auroc(_flatten(anomaly_maps), _flatten(gt_masks), "pixel AUROC")


def f1_max(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Best F1 over all thresholds ``score >= t`` and the threshold reaching it.

    Args:
        scores: ``(N,)`` scores (image scores, or flattened pixel scores).
        labels: ``(N,)`` labels in {0, 1}.

    Returns:
        ``(f1, threshold)``: the maximum F1 in [0, 1] and the smallest score ``t`` such that predicting
        ``score >= t`` as anomalous reaches it. ``(nan, nan)`` with a warning when there is no anomalous sample.
    """
    scores, labels = _check_pair(scores, labels)
    if not labels.any():
        nan = _undefined("F1-max", f"no anomalous sample among {labels.size}")
        return nan, nan
    scores, labels, weights = _merge_ties(scores, labels)
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores, sample_weight=weights)
    # The last PR point (precision 1, recall 0) has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision (area under the step-wise PR curve, scikit-learn definition).

    Args:
        scores: ``(N,)`` scores (image scores, or flattened pixel scores).
        labels: ``(N,)`` labels in {0, 1}.

    Returns:
        AP in [0, 1], or NaN (with a warning) when there is no anomalous sample.
    """
    scores, labels = _check_pair(scores, labels)
    if not labels.any():
        return _undefined("average precision", f"no anomalous sample among {labels.size}")
    scores, labels, weights = _merge_ties(scores, labels)
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores, sample_weight=weights))


def _region_weights(gt_masks: ArrayOrMaps) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-pixel PRO and FPR increments from the 8-connected GT regions of each mask.

    Returns:
        ``(pro_w, normal, n_regions, n_normal)``: ``(P,)`` float64 ``1 / |C_k|`` on the pixels of region ``k``
        (0 elsewhere), ``(P,)`` bool normal-pixel mask, the number of regions and of normal pixels, with
        ``P`` the total number of pixels in the order of :func:`_flatten`.
    """
    pro_w, normal, n_regions = [], [], 0
    for mask in gt_masks:
        mask = _binary_labels(np.asarray(mask), "gt_masks")
        if mask.ndim != 2:
            raise ValueError(f"each gt mask must be (H, W), got {mask.shape}")
        n_labels, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        comp = comp.reshape(-1)
        sizes = np.bincount(comp, minlength=n_labels).astype(np.float64)
        inv = np.zeros(n_labels, dtype=np.float64)
        inv[1:] = 1.0 / sizes[1:]  # label 0 is the background
        pro_w.append(inv[comp])
        normal.append(comp == 0)
        n_regions += n_labels - 1
    if not pro_w:
        return np.zeros(0), np.zeros(0, dtype=bool), 0, 0
    normal_all = np.concatenate(normal)
    return np.concatenate(pro_w), normal_all, n_regions, int(normal_all.sum())


def pixel_aupro(anomaly_maps: ArrayOrMaps, gt_masks: ArrayOrMaps, fpr_limit: float = AUPRO_FPR_LIMIT) -> float:
    """Normalised area under the per-region-overlap curve up to ``fpr_limit`` (exact, one sort).

    Every distinct score is a threshold. The per-pixel increments (``1 / |C_k|`` for a pixel of region ``k``,
    ``1 / |normal pixels|`` for a normal pixel) are summed per distinct score and accumulated from the highest
    score down, which equals sorting the scores in descending order, taking cumulative sums and keeping the last
    point of each run of equal scores; ``(0, 0)`` is prepended. The curve is integrated with the trapezoid rule
    up to ``fpr_limit``, interpolating linearly at the limit.

    Args:
        anomaly_maps: ``(N, H, W)`` anomaly maps, or a sequence of N ``(H_i, W_i)`` maps.
        gt_masks: ground-truth masks in {0, 1}, same shapes as ``anomaly_maps``.
        fpr_limit: upper FPR integration bound in (0, 1].

    Returns:
        AUPRO in [0, 1], or NaN (with a warning) when there is no GT region or no normal pixel.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    maps = [np.asarray(m) for m in anomaly_maps]
    masks = [np.asarray(m) for m in gt_masks]
    if len(maps) != len(masks) or any(a.shape != b.shape for a, b in zip(maps, masks, strict=True)):
        raise ValueError("anomaly_maps and gt_masks must have the same number of images and the same shapes")
    pro_w, normal, n_regions, n_normal = _region_weights(masks)
    if n_regions == 0:
        return _undefined("pixel AUPRO", "no anomalous pixel in the ground truth")
    if n_normal == 0:
        return _undefined("pixel AUPRO", "no normal pixel in the ground truth")
    scores = _flatten(maps)
    if not np.isfinite(scores).all():
        raise ValueError("anomaly_maps contain NaN or inf")

    # Sum the increments per distinct score, then accumulate from the highest score down: this yields exactly
    # the last point of each run of equal scores of the sorted cumulative sums.
    uniq, inverse = np.unique(scores, return_inverse=True)
    pro = np.cumsum(np.bincount(inverse, weights=pro_w, minlength=uniq.size)[::-1]) / n_regions
    fpr = np.cumsum(np.bincount(inverse, weights=normal, minlength=uniq.size)[::-1]) / n_normal
    fpr = np.r_[0.0, fpr]
    pro = np.r_[0.0, pro]

    # fpr ends at exactly 1 >= fpr_limit, so there is a first point strictly beyond the limit unless it is 1.
    end = int(np.searchsorted(fpr, fpr_limit, side="right"))
    if end < fpr.size:
        x0, x1, y0, y1 = fpr[end - 1], fpr[end], pro[end - 1], pro[end]
        pro_at_limit = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
        fpr = np.r_[fpr[:end], fpr_limit]
        pro = np.r_[pro[:end], pro_at_limit]
    area = float(np.sum((fpr[1:] - fpr[:-1]) * (pro[1:] + pro[:-1]) / 2.0))
    return float(np.clip(area / fpr_limit, 0.0, 1.0))
