"""The threshold rules ('auto', 'f1', 'quantile') of fit_threshold and of AnomalyMetric(threshold_rule=...)."""

import numpy as np
import pytest
import torch

from gen3d.evaluation.metrics import AnomalyMetric, f1_max
from gen3d.evaluation.metrics.thresholds import (
    THRESHOLD_RULES,
    f1_adaptive_threshold,
    fit_threshold,
    normal_quantile_threshold,
)
from gen3d.structures import AnomalyDataSample

SIZE = 12


def _samples(cls_name: str, n_good: int, n_bad: int, seed: int) -> list[AnomalyDataSample]:
    """Samples whose defect (if any) is a box scoring 0.6 above uniform noise, so that scores overlap a little."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_good + n_bad):
        mask = np.zeros((SIZE, SIZE), np.uint8)
        if i >= n_good:
            y, x = rng.integers(0, SIZE - 4, 2)
            mask[y : y + 3, x : x + 3] = 1
        amap = rng.uniform(0, 1, (SIZE, SIZE)) + 0.6 * mask
        sample = AnomalyDataSample(metainfo=dict(cls_name=cls_name))
        sample.gt_label = torch.tensor(int(i >= n_good))
        sample.gt_mask = torch.from_numpy(mask)
        sample.anomaly_map = torch.from_numpy(amap).float()
        sample.pred_score = torch.tensor(float(amap.max()))
        out.append(sample)
    return out


def _run(metric: AnomalyMetric, samples: list[AnomalyDataSample]) -> dict[str, float]:
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def _arrays(samples: list[AnomalyDataSample]) -> tuple[np.ndarray, ...]:
    scores = np.array([float(s.pred_score) for s in samples])
    labels = np.array([int(s.gt_label) for s in samples])
    maps = np.stack([s.anomaly_map.numpy().astype(np.float16) for s in samples]).astype(np.float32)
    masks = np.stack([s.gt_mask.numpy() for s in samples]).astype(bool)
    return scores, labels, maps, masks


# ---------------------------------------------------------------------------------------------------- fit_threshold

def test_fit_threshold_rules():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 50), rng.normal(1.5, 1, 20)])
    labels = np.r_[np.zeros(50), np.ones(20)].astype(int)
    f1 = f1_adaptive_threshold(scores, labels)
    quant = normal_quantile_threshold(scores[:50], 0.9)
    assert f1 != pytest.approx(quant)
    assert fit_threshold(scores, labels, "f1") == pytest.approx(f1)
    assert fit_threshold(scores, labels, "auto") == pytest.approx(f1)  # defects present: F1
    assert fit_threshold(scores, labels, "quantile", 0.9) == pytest.approx(quant)  # normals only, defects ignored
    assert fit_threshold(scores[:50], labels[:50], "auto", 0.9) == pytest.approx(quant)  # no defect: quantile
    normal = np.arange(70) < 25  # an explicit set of normal samples for the quantile
    assert fit_threshold(scores, labels, "quantile", 0.9, normal=normal) == pytest.approx(
        normal_quantile_threshold(scores[:25], 0.9))
    assert fit_threshold(scores, labels, "f1", f1_threshold=1.234) == 1.234  # a precomputed F1 threshold is used
    assert set(THRESHOLD_RULES) == {"auto", "f1", "quantile"}


def test_fit_threshold_refusals():
    with pytest.raises(ValueError, match="anomalous"):
        fit_threshold(np.arange(5.0), np.zeros(5), "f1")
    with pytest.raises(ValueError, match="at least one normal"):
        fit_threshold(np.arange(5.0), np.ones(5), "quantile")
    with pytest.raises(ValueError, match="threshold rule"):
        fit_threshold(np.arange(5.0), np.zeros(5), "median")


# ---------------------------------------------------------------------------------------------------- AnomalyMetric

def test_metric_f1_rule_fits_f1_adaptive_image_and_pixel_thresholds():
    samples = _samples("bottle", 6, 6, seed=1)
    out = _run(AnomalyMetric(threshold_rule="f1", quantile=0.9), samples)
    scores, labels, maps, masks = _arrays(samples)
    assert out["threshold/bottle/image"] == pytest.approx(f1_adaptive_threshold(scores, labels))
    assert out["threshold/bottle/pixel"] == pytest.approx(f1_max(maps.ravel(), masks.ravel())[1], rel=1e-6)
    assert out["threshold/bottle/image"] != pytest.approx(normal_quantile_threshold(scores[labels == 0], 0.9))


def test_metric_quantile_rule_ignores_the_defects():
    samples = _samples("bottle", 6, 6, seed=2)
    out = _run(AnomalyMetric(threshold_rule="quantile", quantile=0.9), samples)
    scores, labels, maps, masks = _arrays(samples)
    assert out["threshold/bottle/image"] == pytest.approx(normal_quantile_threshold(scores[labels == 0], 0.9))
    # pixels: the normal pixels of the normal images
    assert out["threshold/bottle/pixel"] == pytest.approx(normal_quantile_threshold(maps[labels == 0], 0.9), rel=1e-6)
    assert "bottle/image_auroc" in out  # the ranking metrics are reported whatever the rule


def test_metric_auto_rule_is_the_default_and_unchanged():
    samples = _samples("bottle", 5, 5, seed=3) + _samples("cable", 5, 0, seed=4)
    default = _run(AnomalyMetric(quantile=0.9), samples)
    auto = _run(AnomalyMetric(quantile=0.9, threshold_rule="auto"), samples)
    assert default == auto
    bottle, cable = samples[:10], samples[10:]
    scores, labels, _, _ = _arrays(bottle)
    assert auto["threshold/bottle/image"] == pytest.approx(f1_adaptive_threshold(scores, labels))
    cable_scores, _, cable_maps, _ = _arrays(cable)
    assert auto["threshold/cable/image"] == pytest.approx(normal_quantile_threshold(cable_scores, 0.9))
    assert auto["threshold/cable/pixel"] == pytest.approx(normal_quantile_threshold(cable_maps, 0.9), rel=1e-6)


def test_metric_f1_rule_on_a_normal_only_validation_is_a_clear_error():
    samples = _samples("bottle", 4, 4, seed=5) + _samples("cable", 4, 0, seed=6)
    with pytest.raises(ValueError, match=r"'cable'.*SyntheticDefectValDataset"):
        _run(AnomalyMetric(threshold_rule="f1"), samples)


def test_metric_with_stored_thresholds_fits_nothing_whatever_the_rule():
    metric = AnomalyMetric(threshold_rule="f1")
    metric.use_stored_thresholds({"cable": {"image": 0.5, "pixel": 0.4}})
    out = _run(metric, _samples("cable", 4, 0, seed=7))  # normal-only, but nothing is fitted on a test run
    assert out["stored_threshold/cable/image"] == 0.5
    assert not any(k.startswith("threshold/") for k in out)


def test_metric_refuses_an_unknown_rule():
    with pytest.raises(ValueError, match="threshold_rule"):
        AnomalyMetric(threshold_rule="best")


# ------------------------------------------------------------------------------------------------ selection score

def test_selection_score_breaks_ties_of_a_saturated_auroc():
    """Two validations with image AUROC 1.0 each: the one whose maps localise the defects better ranks higher."""
    from gen3d.evaluation.metrics.anomaly_metric import SELECTION_KEY

    good = _samples("bottle", 3, 3, seed=0)
    blurred = _samples("bottle", 3, 3, seed=0)
    for s in good + blurred:
        s.pred_score = torch.tensor(float(s.gt_label) + 0.1)  # perfectly separated images in both runs
    for s in blurred:  # the same defects, localised worse: half the map's contrast on the defect
        s.anomaly_map = s.anomaly_map - 0.45 * s.gt_mask.float()
    sharp_out, blurred_out = _run(AnomalyMetric(threshold_rule="f1"), good), _run(AnomalyMetric(), blurred)
    assert sharp_out["mean/image_auroc"] == blurred_out["mean/image_auroc"] == 1.0
    assert sharp_out["mean/pixel_aupro"] > blurred_out["mean/pixel_aupro"]
    for out in (sharp_out, blurred_out):
        assert out[SELECTION_KEY] == pytest.approx(0.5 * (out["mean/image_auroc"] + out["mean/pixel_aupro"]))
    assert sharp_out[SELECTION_KEY] > blurred_out[SELECTION_KEY]
    image_only = _run(AnomalyMetric(compute_pixel=False), _samples("bottle", 3, 3, seed=1))
    assert image_only[SELECTION_KEY] == image_only["mean/image_auroc"]  # no pixel metrics: image AUROC alone
    assert SELECTION_KEY not in _run(AnomalyMetric(), _samples("bottle", 4, 0, seed=2))  # good images only
