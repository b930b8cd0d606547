"""Tests of the per-class threshold rules."""

import numpy as np
import pytest

from gen3d.evaluation.metrics.thresholds import f1_adaptive_threshold, normal_quantile_threshold


def test_f1_adaptive_threshold_hand_computed() -> None:
    # F1 per threshold: 0.8 -> 2/3, 0.4 -> 1/2, 0.35 -> 4/5 (best), 0.1 -> 2/3.
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert f1_adaptive_threshold(scores, np.array([0, 0, 1, 1])) == pytest.approx(0.35)


def test_f1_adaptive_threshold_separable_and_pixel_maps() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(50), np.ones(10)].astype(int)
    scores = np.r_[rng.uniform(0, 1, 50), rng.uniform(2, 3, 10)]
    thr = f1_adaptive_threshold(scores, labels)
    assert thr == pytest.approx(scores[labels == 1].min())
    assert ((scores >= thr) == labels.astype(bool)).all()
    # Any shape is flattened: (N, H, W) maps and masks.
    assert f1_adaptive_threshold(scores.reshape(3, 4, 5), labels.reshape(3, 4, 5)) == pytest.approx(thr)


def test_f1_adaptive_threshold_needs_defects() -> None:
    with pytest.raises(ValueError, match="normal_quantile_threshold"):
        f1_adaptive_threshold(np.array([0.1, 0.2]), np.array([0, 0]))


def test_normal_quantile_threshold() -> None:
    scores = np.arange(101, dtype=np.float64)  # 0 .. 100
    assert normal_quantile_threshold(scores, 0.99) == pytest.approx(99.0)
    assert normal_quantile_threshold(scores, 0.5) == pytest.approx(50.0)
    assert normal_quantile_threshold(scores, 0.0) == 0.0
    assert normal_quantile_threshold(scores, 1.0) == 100.0
    # quantile = 1 - FPR: about 1 % of normal samples at or above the threshold.
    normal = np.random.default_rng(0).normal(size=(20, 32, 32)).astype(np.float16)
    thr = normal_quantile_threshold(normal, 0.99)
    assert np.mean(normal >= thr) == pytest.approx(0.01, abs=2e-3)


@pytest.mark.parametrize(
    ("scores", "quantile", "match"),
    [(np.zeros(0), 0.99, "at least one"), (np.ones(3), 1.5, "quantile"), (np.array([1.0, np.nan]), 0.9, "NaN")],
)
def test_normal_quantile_threshold_invalid(scores: np.ndarray, quantile: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        normal_quantile_threshold(scores, quantile)
