"""Overlays a person can look at: anomaly heatmaps with contours and verdict, segmentation palette overlays.

Anomaly (:func:`draw_overlay`): image + heatmap + predicted and ground-truth contours + verdict. Segmentation
(:func:`draw_seg_overlay`): image + palette-coloured label map + the largest classes.

numpy and OpenCV only (no torch): the edge runtime and the training-side visualiser draw the same picture.
"""

from __future__ import annotations

import cv2
import numpy as np

PRED_COLOR = (255, 40, 40)  # RGB red: predicted defect region
GT_COLOR = (40, 255, 40)  # RGB green: ground-truth defect region
HEATMAP_ALPHA = 0.45
LABEL_ALPHA = 0.5  # label colours over the image


def heatmap_rgb(anomaly_map: np.ndarray, threshold: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Colour an anomaly map with the JET colormap on a fixed scale.

    The scale is absolute, not per-image min-max (which makes every good part look hot): with a threshold the
    map is scaled so that the threshold sits at the middle of the colormap (``score / (2 * threshold)``),
    otherwise by ``vmax`` (default: the map's own maximum).

    Args:
        anomaly_map: ``(H, W)`` float map.
        threshold: Pixel threshold of the class, if known.
        vmax: Value drawn as the hottest colour when no threshold is given.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    scale = 2.0 * threshold if threshold else (vmax if vmax else float(anomaly_map.max()) or 1.0)
    norm = np.clip(anomaly_map.astype(np.float32) / max(scale, 1e-12), 0.0, 1.0)
    colored = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)


def draw_overlay(image: np.ndarray, anomaly_map: np.ndarray, score: float, label: int | None = None,
                 pred_mask: np.ndarray | None = None, gt_mask: np.ndarray | None = None,
                 threshold: float | None = None, title: str = "") -> np.ndarray:
    """Draw image | overlay side by side, with contours and a caption (score, verdict, class).

    Args:
        image: ``(H, W, 3)`` uint8 RGB image.
        anomaly_map: ``(h, w)`` float map (resized to the image if needed).
        score: Image anomaly score.
        label: 1 defective, 0 good, None undecided (no threshold).
        pred_mask: ``(h, w)`` binary predicted mask, drawn as a red contour.
        gt_mask: ``(h, w)`` binary ground truth, drawn as a green contour.
        threshold: Pixel threshold used to scale the heatmap.
        title: Text drawn first in the caption (e.g. the class name).

    Returns:
        ``(H + caption, 2 * W, 3)`` uint8 RGB picture.
    """
    h, w = image.shape[:2]
    amap = cv2.resize(anomaly_map.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    overlay = cv2.addWeighted(image, 1.0 - HEATMAP_ALPHA, heatmap_rgb(amap, threshold), HEATMAP_ALPHA, 0.0)
    thickness = max(1, round(min(h, w) / 200))
    for mask, color in ((gt_mask, GT_COLOR), (pred_mask, PRED_COLOR)):
        if mask is None:
            continue
        m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(overlay, contours, -1, color, thickness)
    canvas = np.concatenate([image, overlay], axis=1)
    verdict = {None: "", 0: "GOOD", 1: "DEFECT"}[None if label is None else int(label)]
    caption = np.full((max(24, h // 10), canvas.shape[1], 3), 255, np.uint8)
    text = "  ".join(t for t in (title, f"score {score:.4g}", verdict) if t)
    font_scale = caption.shape[0] / 40
    color = (200, 0, 0) if verdict == "DEFECT" else (0, 120, 0) if verdict == "GOOD" else (0, 0, 0)
    cv2.putText(caption, text, (6, int(caption.shape[0] * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, color,
                max(1, round(font_scale * 2)), cv2.LINE_AA)
    return np.concatenate([canvas, caption], axis=0)


def draw_seg_overlay(image: np.ndarray, label_map: np.ndarray, palette: np.ndarray,
                     class_names: list[str] | tuple[str, ...] = (), fractions: np.ndarray | None = None,
                     top: int = 3) -> np.ndarray:
    """Draw image | image blended with the palette colours of its label map, with a caption of the largest classes.

    Args:
        image: ``(H, W, 3)`` uint8 RGB image.
        label_map: ``(h, w)`` integer class ids (resized to the image with nearest neighbour if needed).
        palette: uint8 ``(C, 3)`` RGB colour of each class (:func:`~gen3d.runtime.colormaps.label_colormap`).
        class_names: Name of each class, for the caption (``class <k>`` where missing).
        fractions: ``(C,)`` pixel fraction of each class, for the caption (default: counted here).
        top: Classes named in the caption, largest first.

    Returns:
        ``(H + caption, 2 * W, 3)`` uint8 RGB picture.
    """
    from gen3d.runtime.colormaps import colorize_labels

    h, w = image.shape[:2]
    labels = np.asarray(label_map)
    if labels.shape[:2] != (h, w):
        labels = cv2.resize(labels.astype(np.uint16 if labels.max(initial=0) > 255 else np.uint8), (w, h),
                            interpolation=cv2.INTER_NEAREST)
    colors = colorize_labels(labels, palette)
    overlay = cv2.addWeighted(image, 1.0 - LABEL_ALPHA, colors, LABEL_ALPHA, 0.0)
    canvas = np.concatenate([image, overlay], axis=1)
    if fractions is None:
        fractions = np.bincount(labels.reshape(-1).astype(np.int64), minlength=len(palette)) / max(labels.size, 1)
    order = [int(k) for k in np.argsort(-np.asarray(fractions), kind="stable")[:top] if fractions[k] > 0]
    names = [class_names[k] if k < len(class_names) else f"class {k}" for k in order]
    caption = np.full((max(24, h // 10), canvas.shape[1], 3), 255, np.uint8)
    font_scale = caption.shape[0] / 40
    x = 6
    for name, k in zip(names, order):  # a colour swatch before each class name
        side = int(caption.shape[0] * 0.5)
        y0 = (caption.shape[0] - side) // 2
        caption[y0:y0 + side, x:x + side] = palette[k] if k < len(palette) else 128
        x += side + 4
        piece = f"{name} {100 * float(fractions[k]):.1f}%"
        cv2.putText(caption, piece, (x, int(caption.shape[0] * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), max(1, round(font_scale * 2)), cv2.LINE_AA)
        x += cv2.getTextSize(piece, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(1, round(font_scale * 2)))[0][0] + 12
    return np.concatenate([canvas, caption], axis=0)


def save_rgb(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 image with OpenCV (which expects BGR).

    Raises:
        OSError: The file could not be written.
    """
    if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write image {path}")
