"""Overlays: fixed heatmap scale, contours where the masks are, caption with the verdict."""

import numpy as np

from gen3d.runtime.overlay import GT_COLOR, PRED_COLOR, draw_overlay, heatmap_rgb


def test_heatmap_scale_is_absolute_not_per_image():
    low = heatmap_rgb(np.full((8, 8), 1.0), threshold=10.0)
    high = heatmap_rgb(np.full((8, 8), 20.0), threshold=10.0)
    # A uniformly low map stays "cold" (blue) instead of being stretched to hot colours.
    assert low[..., 2].mean() > low[..., 0].mean()
    assert high[..., 0].mean() > high[..., 2].mean()


def test_overlay_draws_contours_and_caption():
    image = np.full((64, 64, 3), 128, np.uint8)
    amap = np.zeros((16, 16), np.float32)
    pred = np.zeros((16, 16), np.uint8)
    pred[2:6, 2:6] = 1
    gt = np.zeros((16, 16), np.uint8)
    gt[10:14, 10:14] = 1
    pic = draw_overlay(image, amap, 3.2, label=1, pred_mask=pred, gt_mask=gt, threshold=1.0, title="bottle")
    assert pic.shape[1] == 128 and pic.shape[0] > 64
    right = pic[:64, 64:]
    red = np.all(right == PRED_COLOR, axis=-1)
    green = np.all(right == GT_COLOR, axis=-1)
    assert red[:32, :32].any() and not red[40:, 40:].any()
    assert green[32:, 32:].any() and not green[:24, :24].any()
    caption = pic[64:]
    assert (caption < 250).any(), "caption text missing"
