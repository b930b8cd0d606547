"""Tests of the pure anomaly metrics, with AUPRO checked against a slow per-threshold reference."""

from collections.abc import Callable

import numpy as np
import pytest
from scipy import ndimage

from gen3d.evaluation.metrics.anomaly_functional import (
    average_precision,
    f1_max,
    image_auroc,
    pixel_aupro,
    pixel_auroc,
)


def _slow_aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Reference AUPRO: one binarisation per distinct score, regions by scipy, explicit trapezoids."""
    regions = []
    for i, mask in enumerate(masks):
        comp, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
        regions += [(i, comp == k) for k in range(1, n + 1)]
    normal = masks == 0
    fprs, pros = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        pros.append(np.mean([pred[i][region].mean() for i, region in regions]))
        fprs.append(pred[normal].mean())
    area = 0.0
    for j in range(1, len(fprs)):
        x0, x1, y0, y1 = fprs[j - 1], fprs[j], pros[j - 1], pros[j]
        if x1 > fpr_limit:
            y_lim = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            area += (fpr_limit - x0) * (y0 + y_lim) / 2
            break
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def _random_case(seed: int, n: int = 4, size: int = 24, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Noisy maps with several GT blobs per image (some touching only diagonally), plus one normal image."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    maps = rng.normal(0.0, 1.0, (n, size, size))
    for i in range(n - 1):  # the last image stays normal
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, size - 6, 2)
            h, w = rng.integers(1, 6, 2)
            masks[i, y : y + h, x : x + w] = 1
            maps[i, y : y + h, x : x + w] += rng.uniform(0.0, 3.0)  # regions of unequal difficulty
    masks[0, 0, 0] = masks[0, 1, 1] = 1  # diagonal neighbours: one region under 8-connectivity
    maps[0, 0, 0] += 2.0
    if levels is not None:  # many ties
        maps = np.round(maps * levels / 8.0) / levels
    return maps, masks


@pytest.mark.parametrize(("seed", "levels"), [(0, None), (1, None), (2, 16), (3, 4)])
def test_aupro_matches_slow_reference(seed: int, levels: int | None) -> None:
    maps, masks = _random_case(seed, levels=levels)
    fast = pixel_aupro(maps, masks, fpr_limit=0.3)
    slow = _slow_aupro(maps, masks, fpr_limit=0.3)
    assert 0.05 < slow < 0.999  # a non-trivial curve
    assert fast == pytest.approx(slow, abs=1e-3)


def test_aupro_other_limit_and_list_input() -> None:
    maps, masks = _random_case(5, n=3, size=16)
    assert pixel_aupro(list(maps), list(masks), fpr_limit=0.05) == pytest.approx(
        _slow_aupro(maps, masks, fpr_limit=0.05), abs=1e-3
    )
    assert pixel_aupro(maps, masks, fpr_limit=1.0) == pytest.approx(_slow_aupro(maps, masks, fpr_limit=1.0), abs=1e-3)


def test_aupro_uses_8_connectivity() -> None:
    # Regions under 8-connectivity: {(0,0), (1,1)} (diagonal neighbours) and {(4,4)}. Only (0,0) scores high,
    # so at FPR 0 the PRO is (1/2 + 0) / 2 = 0.25 (4-connectivity would give three regions and 1/3).
    # All other pixels share score 0: the next point is (FPR 1, PRO 1), a straight line in between.
    mask = np.zeros((1, 6, 6), dtype=np.uint8)
    mask[0, 0, 0] = mask[0, 1, 1] = mask[0, 4, 4] = 1
    amap = np.zeros((1, 6, 6))
    amap[0, 0, 0] = 1.0
    expected = (0.25 + (0.25 + 0.75 * 0.3)) / 2  # trapezoid from (0, 0.25) to (0.3, 0.475), divided by 0.3
    assert pixel_aupro(amap, mask) == pytest.approx(expected)
    assert _slow_aupro(amap, mask) == pytest.approx(expected)


def test_perfect_and_inverted_scores() -> None:
    maps, masks = _random_case(7)
    perfect = masks.astype(float) + np.random.default_rng(0).uniform(0, 0.5, masks.shape)
    assert pixel_aupro(perfect, masks) == pytest.approx(1.0)
    assert pixel_auroc(perfect, masks) == pytest.approx(1.0)
    assert f1_max(perfect.ravel(), masks.ravel())[0] == pytest.approx(1.0)
    assert average_precision(perfect.ravel(), masks.ravel()) == pytest.approx(1.0)
    # Inverted scores are reported as they are: AUC is never flipped.
    assert pixel_auroc(-perfect, masks) == pytest.approx(0.0)
    assert pixel_aupro(-perfect, masks) == pytest.approx(0.0)
    labels = np.array([0, 0, 0, 1, 1])
    assert image_auroc(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), labels) == 1.0
    assert image_auroc(-np.array([0.1, 0.2, 0.3, 0.8, 0.9]), labels) == 0.0


def test_hand_computed_auroc_f1_ap() -> None:
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    # Positive/negative pairs ranked correctly: (0.35>0.1), (0.8>0.1), (0.8>0.4); wrong: (0.35<0.4) -> 3/4.
    assert image_auroc(scores, labels) == pytest.approx(0.75)
    # t=0.8: P=1, R=.5, F1=.667; t=0.4: P=.5, R=.5; t=0.35: P=2/3, R=1, F1=0.8; t=0.1: P=.5, R=1.
    f1, thr = f1_max(scores, labels)
    assert f1 == pytest.approx(0.8)
    assert thr == pytest.approx(0.35)
    # AP = sum over recall steps of precision: 0.5 * 1 + 0.5 * 2/3.
    assert average_precision(scores, labels) == pytest.approx(0.5 + 1 / 3)
    # Ties count one half in AUROC.
    assert image_auroc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)


def test_hand_computed_pixel_auroc() -> None:
    amap = np.array([[[0.9, 0.2], [0.3, 0.1]], [[0.4, 0.0], [0.0, 0.0]]])
    mask = np.array([[[1, 0], [1, 0]], [[0, 0], [0, 0]]], dtype=np.uint8)
    # Positives 0.9, 0.3 against 6 negatives {0.2, 0.1, 0.4, 0, 0, 0}: 0.9 beats all 6, 0.3 beats 5 -> 11/12.
    assert pixel_auroc(amap, mask) == pytest.approx(11 / 12)
    assert pixel_auroc(list(amap), list(mask)) == pytest.approx(11 / 12)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda s, y: image_auroc(s, y), "no anomalous"),
        (lambda s, y: pixel_auroc(s.reshape(1, 2, 2), y.reshape(1, 2, 2)), "no anomalous"),
        (lambda s, y: pixel_aupro(s.reshape(1, 2, 2), y.reshape(1, 2, 2)), "no anomalous pixel"),
        (lambda s, y: f1_max(s, y)[0], "no anomalous"),
        (lambda s, y: f1_max(s, y)[1], "no anomalous"),
        (lambda s, y: average_precision(s, y), "no anomalous"),
    ],
)
def test_degenerate_inputs_return_nan_with_warning(fn: Callable[[np.ndarray, np.ndarray], float], match: str) -> None:
    scores, labels = np.array([0.1, 0.2, 0.3, 0.4]), np.zeros(4, dtype=int)
    with pytest.warns(UserWarning, match=match):
        assert np.isnan(fn(scores, labels))


def test_degenerate_all_anomalous() -> None:
    with pytest.warns(UserWarning, match="no normal sample"):
        assert np.isnan(image_auroc(np.array([0.1, 0.2]), np.array([1, 1])))
    with pytest.warns(UserWarning, match="no normal pixel"):
        assert np.isnan(pixel_aupro(np.ones((1, 3, 3)), np.ones((1, 3, 3), dtype=np.uint8)))


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        image_auroc(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(ValueError, match="differ in size"):
        image_auroc(np.array([0.1, 0.2, 0.3]), np.array([0, 1]))
    with pytest.raises(ValueError, match="fpr_limit"):
        pixel_aupro(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), fpr_limit=0.0)
    with pytest.raises(ValueError, match="same shapes"):
        pixel_aupro(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)))
