"""Per-image report of an anomaly test run: curves agree with the metrics, the CSV and figures are written."""

import csv

import cv2
import numpy as np
import pytest

from gen3d.evaluation.metrics.anomaly_functional import average_precision, image_auroc
from gen3d.evaluation.metrics.anomaly_plots import pr_points, roc_points, write_anomaly_report


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.normal(labels * 1.5, 1.0), 1)  # rounded: ties
    return labels, scores


def test_curves_integrate_to_the_reported_metrics():
    labels, scores = _data()
    fpr, tpr = roc_points(labels, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(image_auroc(scores, labels))
    recall, precision = pr_points(labels, scores)
    ap = np.sum(np.diff(np.r_[0.0, recall]) * precision)
    assert ap == pytest.approx(average_precision(scores, labels))


def test_report_files(tmp_path):
    labels, scores = _data(1, 20)
    records = [dict(cls_name=c, gt_label=int(y), pred_score=float(s), pred_label=int(s > 0.7), img_path=f"{c}/{i}.png")
               for c in ("bottle", "cable") for i, (y, s) in enumerate(zip(labels, scores))]
    records.append(dict(cls_name="screw", gt_label=0, pred_score=0.1))  # one label only: no curve, no failure
    paths = write_anomaly_report(records, str(tmp_path / "r"), {"bottle": 0.7, "cable": None})
    with open(paths[0], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    bottle = [float(r["pred_score"]) for r in rows if r["cls_name"] == "bottle"]
    assert bottle == sorted(bottle, reverse=True)  # the worst images first
    assert all(cv2.imread(p) is not None for p in paths[1:])
