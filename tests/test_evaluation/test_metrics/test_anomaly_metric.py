"""Tests of AnomalyMetric (per-class metrics, means, thresholds) and of the results-JSON helpers."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator

from gen3d.evaluation.metrics import (
    METRIC_KEYS,
    AnomalyMetric,
    f1_max,
    format_table,
    image_auroc,
    normal_quantile_threshold,
    pixel_aupro,
    to_results_json,
)
from gen3d.registry import METRICS
from gen3d.structures import AnomalyDataSample

SIZE = 16


def _sample(cls_name: str, label: int, rng: np.random.Generator, gap: float = 1.0) -> AnomalyDataSample:
    """A sample whose defect (if any) is a random box scoring ``gap`` above uniform noise."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    if label:
        y, x = rng.integers(0, SIZE - 5, 2)
        mask[y : y + rng.integers(2, 5), x : x + rng.integers(2, 5)] = 1
    amap = rng.uniform(0.0, 1.0, (SIZE, SIZE)) + gap * mask
    sample = AnomalyDataSample(metainfo=dict(cls_name=cls_name, defect_type="bad" if label else "good"))
    sample.gt_label = torch.tensor(label)
    sample.gt_mask = torch.from_numpy(mask)
    sample.anomaly_map = torch.from_numpy(amap).float()
    sample.pred_score = torch.tensor(float(amap.max()))
    return sample


def _split(cls_name: str, n_good: int, n_bad: int, seed: int, gap: float = 1.0) -> list[AnomalyDataSample]:
    rng = np.random.default_rng(seed)
    return [_sample(cls_name, int(i >= n_good), rng, gap) for i in range(n_good + n_bad)]


def _evaluate(metric: AnomalyMetric, samples: list) -> dict[str, float]:
    """Run the metric through mmengine's Evaluator, which passes ``to_dict()`` of each sample."""
    evaluator = Evaluator(metric)
    for i in range(0, len(samples), 3):
        evaluator.process(data_samples=samples[i : i + 3])
    return evaluator.evaluate(len(samples))


def _collect(metric: AnomalyMetric, samples: list) -> list[dict]:
    """Feed samples straight to ``process`` and return the stored results."""
    metric.process(None, samples)
    return metric.results


def test_two_classes_end_to_end() -> None:
    samples = _split("bottle", 5, 5, seed=0, gap=1.0) + _split("cable", 6, 4, seed=1, gap=0.3)
    out = _evaluate(AnomalyMetric(), samples)
    for cls in ("bottle", "cable"):
        for key in METRIC_KEYS:
            assert 0.0 <= out[f"{cls}/{key}"] <= 1.0
        assert isinstance(out[f"threshold/{cls}/image"], float)
        assert isinstance(out[f"threshold/{cls}/pixel"], float)
        assert f"{cls}/normal_score_mean" not in out
    for key in METRIC_KEYS:
        assert out[f"mean/{key}"] == pytest.approx((out[f"bottle/{key}"] + out[f"cable/{key}"]) / 2)
    assert "mean/normal_score_mean" not in out
    assert all(isinstance(v, float) for v in out.values())

    # Cross-check one class against the functional metrics (maps are stored as float16).
    cable = [s for s in samples if s.cls_name == "cable"]
    scores = np.array([float(s.pred_score) for s in cable])
    labels = np.array([int(s.gt_label) for s in cable])
    maps = np.stack([s.anomaly_map.numpy().astype(np.float16) for s in cable])
    masks = np.stack([s.gt_mask.numpy() for s in cable])
    assert out["cable/image_auroc"] == pytest.approx(image_auroc(scores, labels))
    assert out["cable/pixel_aupro"] == pytest.approx(pixel_aupro(maps, masks))
    f1, thr = f1_max(maps.ravel(), masks.ravel())
    assert out["cable/pixel_f1max"] == pytest.approx(f1)
    assert out["threshold/cable/pixel"] == pytest.approx(thr)
    # A clear gap gives perfect image separation.
    assert out["bottle/image_auroc"] == 1.0


def test_normal_only_class_and_mixed_means() -> None:
    samples = _split("bottle", 4, 4, seed=2) + _split("cable", 6, 0, seed=3)
    metric = AnomalyMetric(quantile=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the normal-only class must not warn
        out = _evaluate(metric, samples)
    assert not any(f"cable/{key}" in out for key in METRIC_KEYS)
    cable_scores = np.array([float(s.pred_score) for s in samples[8:]])
    assert out["cable/normal_score_mean"] == pytest.approx(cable_scores.mean())
    assert out["mean/normal_score_mean"] == pytest.approx(cable_scores.mean())
    assert out["threshold/cable/image"] == pytest.approx(normal_quantile_threshold(cable_scores, 0.9))
    cable_pixels = np.stack([s.anomaly_map.numpy().astype(np.float16) for s in samples[8:]])
    assert out["threshold/cable/pixel"] == pytest.approx(normal_quantile_threshold(cable_pixels, 0.9))
    for key in METRIC_KEYS:  # the mean skips the class where the metric is undefined
        assert out[f"mean/{key}"] == out[f"bottle/{key}"]


def test_validation_split_of_good_images_only() -> None:
    metric = AnomalyMetric()
    out = metric.compute_metrics(_collect(metric, _split("a", 3, 0, seed=4) + _split("b", 3, 0, seed=5)))
    assert set(out) == {
        "a/normal_score_mean",
        "b/normal_score_mean",
        "mean/normal_score_mean",
        "threshold/a/image",
        "threshold/a/pixel",
        "threshold/b/image",
        "threshold/b/pixel",
    }
    assert out["mean/normal_score_mean"] == pytest.approx((out["a/normal_score_mean"] + out["b/normal_score_mean"]) / 2)


def test_dict_inputs_missing_mask_and_label() -> None:
    samples = []
    for s in _split("pill", 3, 3, seed=6):
        d = s.to_dict()
        if d["gt_label"] == 0:
            del d["gt_mask"]  # absent mask -> zeros
        else:
            del d["gt_label"]  # absent label -> derived from the mask
            d["metainfo"] = {"cls_name": d.pop("cls_name")}  # nested metainfo is accepted too
        d["anomaly_map"] = d["anomaly_map"][None]  # (1, H, W)
        samples.append(d)
    metric = AnomalyMetric(pixel_downsample=2)
    results = _collect(metric, samples)
    assert [r["gt_label"] for r in results] == [0, 0, 0, 1, 1, 1]
    assert results[0]["gt_mask"] is None
    assert results[3]["gt_mask"].dtype == bool and results[3]["gt_mask"].shape == (SIZE // 2, SIZE // 2)
    assert results[3]["anomaly_map"].dtype == np.float16 and results[3]["anomaly_map"].shape == (SIZE // 2, SIZE // 2)
    out = metric.compute_metrics(results)
    assert {f"pill/{k}" for k in METRIC_KEYS} <= set(out)
    assert all(math.isfinite(out[f"pill/{k}"]) for k in METRIC_KEYS)


def test_compute_pixel_false_and_registry_build() -> None:
    metric = METRICS.build(dict(type="AnomalyMetric", compute_pixel=False, quantile=0.95))
    assert isinstance(metric, AnomalyMetric) and metric.quantile == 0.95
    results = _collect(metric, _split("screw", 3, 3, seed=7))
    assert "anomaly_map" not in results[0]
    out = metric.compute_metrics(results)
    assert set(out) == {
        "screw/image_auroc",
        "screw/image_f1max",
        "mean/image_auroc",
        "mean/image_f1max",
        "mean/selection_score",
        "threshold/screw/image",
    }
    assert out["mean/selection_score"] == out["mean/image_auroc"]  # no pixel metrics: image AUROC alone


def test_undefined_metric_is_nan_and_skipped_in_mean() -> None:
    samples = _split("grid", 3, 3, seed=8) + _split("tile", 0, 3, seed=9)  # tile: no normal test image
    metric = AnomalyMetric()
    with pytest.warns(UserWarning, match="image AUROC is undefined"):
        out = metric.compute_metrics(_collect(metric, samples))
    assert math.isnan(out["tile/image_auroc"])
    assert out["mean/image_auroc"] == out["grid/image_auroc"]
    assert math.isfinite(out["tile/pixel_aupro"])


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="quantile"):
        AnomalyMetric(quantile=2.0)
    with pytest.raises(ValueError, match="pixel_downsample"):
        AnomalyMetric(pixel_downsample=0)
    with pytest.raises(ValueError, match="differ in shape"):
        sample = _split("x", 0, 1, seed=0)[0]
        sample.gt_mask = torch.zeros(SIZE, SIZE + 1, dtype=torch.uint8)
        AnomalyMetric().process(None, [sample])


def test_to_results_json_and_table() -> None:
    samples = _split("bottle", 4, 4, seed=10) + _split("cable", 4, 0, seed=11)
    metric = AnomalyMetric()
    flat = metric.compute_metrics(_collect(metric, samples))
    res = to_results_json(flat)
    assert set(res) == {"mean", "per_class", "thresholds"}
    assert set(res["mean"]) == set(METRIC_KEYS)
    assert list(res["per_class"]) == ["bottle"]  # the normal-only class has none of the six metrics
    assert set(res["per_class"]["bottle"]) == set(METRIC_KEYS)
    assert all(0.0 <= v <= 1.0 for v in res["per_class"]["bottle"].values())
    assert res["mean"]["image_auroc"] == flat["mean/image_auroc"]
    assert set(res["thresholds"]) == {"bottle", "cable"}
    cable_thr = {"image": flat["threshold/cable/image"], "pixel": flat["threshold/cable/pixel"]}
    assert res["thresholds"]["cable"] == cable_thr
    json.dumps(res, allow_nan=False)  # NaN-free

    nan_flat = {"a/image_auroc": float("nan"), "a/pixel_ap": 0.5, "mean/pixel_ap": 0.5, "test/x": 1.0}
    res = to_results_json(nan_flat)
    assert res["per_class"]["a"]["image_auroc"] is None and res["per_class"]["a"]["pixel_ap"] == 0.5
    assert res["mean"]["image_auroc"] is None and "thresholds" not in res
    assert to_results_json({"val/a/pixel_ap": 0.25}, prefix="val")["per_class"]["a"]["pixel_ap"] == 0.25

    table = format_table(res)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["class", "I-AUROC", "P-AUROC"]
    assert lines[-1].split() == ["mean", "-", "-", "-", "-", "-", "50.0"]
    assert lines[2].split()[0] == "a" and lines[2].split()[-1] == "50.0"
