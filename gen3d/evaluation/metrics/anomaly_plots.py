"""Per-image scores and plots of an anomaly test run, written next to ``results.json`` by ``tools/test.py``.

:func:`write_anomaly_report` takes the per-image records the :class:`~gen3d.evaluation.metrics.AnomalyMetric`
stores (``cls_name``, ``gt_label``, ``pred_score``, optional ``pred_label`` and ``img_path``) and writes:

* ``per_image_scores.csv``: one row per image, sorted by class then descending score (the images a QA engineer looks
  at first), with the decision at the deployed threshold where the model made one;
* ``roc_pr.png``: per class, the ROC curve (with its AUROC) and the precision-recall curve (with its AP);
* ``score_histograms.png``: per class, the scores of good and defective images and the image threshold.

Matplotlib (Agg) only; nothing here changes a metric.
"""

from __future__ import annotations

import csv
import os
import os.path as osp
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

REPORT_FILES = ("per_image_scores.csv", "roc_pr.png", "score_histograms.png")


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates ``(K,)`` of every threshold, from ``(0, 0)`` to ``(1, 1)`` (ties merged)."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last index of each distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def pr_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision ``(K,)`` of every threshold (ties merged), recall ascending."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    return tp / max(y.sum(), 1), tp / (last + 1)


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return (n + cols - 1) // cols, cols


def write_anomaly_report(records: Sequence[Mapping[str, Any]], out_dir: str,
                         thresholds: Mapping[str, float] | None = None) -> list[str]:
    """Write the per-image CSV and the ROC/PR and histogram figures; returns the paths written.

    Args:
        records: Per-image dicts (``cls_name``, ``gt_label``, ``pred_score``; optional ``pred_label``, ``img_path``).
        out_dir: Folder (created).
        thresholds: ``{cls: image threshold}`` drawn on the histograms (the deployed or the fitted ones).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[str(r["cls_name"])].append(r)
    csv_path = osp.join(out_dir, REPORT_FILES[0])
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["cls_name", "img_path", "gt_label", "pred_score", "pred_label"])
        for cls in sorted(groups):
            for r in sorted(groups[cls], key=lambda r: -float(r["pred_score"])):
                writer.writerow([cls, r.get("img_path") or "", int(r["gt_label"]), f"{float(r['pred_score']):.6g}",
                                 "" if r.get("pred_label") is None else int(r["pred_label"])])
    rows, cols = _grid(len(groups))
    roc_fig, roc_axes = plt.subplots(rows, 2 * cols, figsize=(4.2 * cols * 2, 3.6 * rows), squeeze=False)
    hist_fig, hist_axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in (*roc_axes.ravel(), *hist_axes.ravel()):
        ax.set_visible(False)
    for i, cls in enumerate(sorted(groups)):
        labels = np.asarray([int(r["gt_label"]) for r in groups[cls]])
        scores = np.asarray([float(r["pred_score"]) for r in groups[cls]])
        roc_ax, pr_ax = roc_axes[i // cols, 2 * (i % cols)], roc_axes[i // cols, 2 * (i % cols) + 1]
        hist_ax = hist_axes[i // cols, i % cols]
        for ax in (roc_ax, pr_ax, hist_ax):
            ax.set_visible(True)
        both = 0 < labels.sum() < len(labels)
        if both:
            fpr, tpr = roc_points(labels, scores)
            recall, precision = pr_points(labels, scores)
            auroc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
            ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
            roc_ax.plot(fpr, tpr, lw=1.5)
            roc_ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8)
            pr_ax.step(recall, precision, where="post", lw=1.5)
            pr_ax.axhline(labels.mean(), ls=":", c="grey", lw=0.8)
            roc_ax.set_title(f"{cls}: ROC, AUROC {auroc:.3f}", fontsize=9)
            pr_ax.set_title(f"{cls}: PR, AP {ap:.3f}", fontsize=9)
        else:
            roc_ax.set_title(f"{cls}: one label only, no ROC", fontsize=9)
            pr_ax.set_title(f"{cls}: one label only, no PR", fontsize=9)
        roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
        pr_ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        bins = np.linspace(scores.min(), scores.max() + 1e-12, 25)
        for label, name, colour in ((0, "good", "tab:green"), (1, "defect", "tab:red")):
            if (labels == label).any():
                hist_ax.hist(scores[labels == label], bins=bins, alpha=0.6, color=colour,
                             label=f"{name} ({int((labels == label).sum())})")
        if thresholds and cls in thresholds and thresholds[cls] is not None:
            hist_ax.axvline(float(thresholds[cls]), c="k", ls="--", lw=1, label="image threshold")
        hist_ax.set(title=f"{cls}: image scores", xlabel="anomaly score", ylabel="images")
        hist_ax.title.set_fontsize(9)
        hist_ax.legend(fontsize=7)
    paths = [csv_path, osp.join(out_dir, REPORT_FILES[1]), osp.join(out_dir, REPORT_FILES[2])]
    for fig, path in ((roc_fig, paths[1]), (hist_fig, paths[2])):
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return paths
