"""Pictures of InterClassGAN results as uint8 RGB arrays, written with PIL.

Image grids with row labels, the awareness heat map (classes x channels, one panel per layer) and segmentation
overlays.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from gen3d.models.gans.sampling import to_uint8

from .awareness import ChannelAwareness

__all__ = ["awareness_heatmap", "labelled_grid", "overlay_labels", "save_png"]

PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
                    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)


def save_png(img: np.ndarray, path: str) -> str:
    """Write an ``(H, W, 3)`` uint8 RGB array; returns ``path``."""
    from PIL import Image

    Image.fromarray(img).save(path)
    return path


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.35) -> None:
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def labelled_grid(rows: Sequence[Tensor | np.ndarray], labels: Sequence[str], zoom: int = 2,
                  label_width: int = 90, header: str | None = None) -> np.ndarray:
    """One labelled row per entry of ``rows``: images ``[N, 3, R, R]`` in ``[-1, 1]`` or uint8 ``(N, R, R, 3)``.

    Images are scaled up ``zoom`` times (nearest); ``header`` adds a title line.
    """
    tiles = []
    for r in rows:
        a = r if isinstance(r, np.ndarray) else to_uint8(r.detach().cpu()).permute(0, 2, 3, 1).numpy()
        if a.shape[-1] == 1:
            a = np.repeat(a, 3, -1)
        tiles.append(np.concatenate(list(a), axis=1).repeat(zoom, 0).repeat(zoom, 1))
    width = max(t.shape[1] for t in tiles)
    out = []
    for t, lab in zip(tiles, labels):
        row = np.zeros((t.shape[0], label_width + width, 3), np.uint8)
        row[:, label_width:label_width + t.shape[1]] = t
        _text(row, str(lab)[:16], 2, t.shape[0] // 2 + 4)
        out.append(row)
    grid = np.concatenate(out, axis=0)
    if header:
        top = np.zeros((16, grid.shape[1], 3), np.uint8)
        _text(top, header, 2, 12)
        grid = np.concatenate([top, grid], axis=0)
    return grid


def awareness_heatmap(aw: ChannelAwareness, class_names: Sequence[str], cell: int = 6) -> np.ndarray:
    """Classes (rows) x channels (columns) of ``log2 A`` in ``[-2, 2]``, one panel per layer.

    Blue: below the mean over classes, red: above; channels ordered by the class that is most aware of them.
    """
    panels = []
    for name in aw.layers:
        a = aw.awareness[name]
        order = np.lexsort((-a.max(0), a.argmax(0)))
        v = np.clip(np.log2(np.maximum(a[:, order], 1e-6)), -2, 2)[..., None] / 2  # [-1, 1]
        white, red, blue = np.array([255.0, 255, 255]), np.array([200.0, 20, 20]), np.array([20.0, 60, 200])
        img = np.where(v > 0, white + v * (red - white), white - v * (blue - white))
        img = np.round(img).astype(np.uint8).repeat(cell * 2, 0).repeat(cell, 1)
        pad = np.zeros((img.shape[0] + 14, img.shape[1] + 70, 3), np.uint8)
        pad[14:, 70:] = img
        _text(pad, f"{name}: log2 A in [-2, 2], channels sorted by most-aware class", 2, 11)
        for y, cname in enumerate(class_names):
            _text(pad, str(cname)[:10], 2, 14 + y * cell * 2 + cell + 3)
        panels.append(pad)
    width = max(p.shape[1] for p in panels)
    return np.concatenate([np.pad(p, ((0, 4), (0, width - p.shape[1]), (0, 0))) for p in panels], axis=0)


def overlay_labels(images: Tensor, labels: Tensor, alpha: float = 0.55) -> np.ndarray:
    """``(N, R, R, 3)`` uint8: each image blended with the palette colour of its cluster labels ``[N, R, R]``."""
    img = to_uint8(images.detach().cpu()).permute(0, 2, 3, 1).numpy().astype(np.float64)
    col = PALETTE[torch.as_tensor(labels).numpy() % len(PALETTE)].astype(np.float64)
    return np.round(img * (1 - alpha) + col * alpha).astype(np.uint8)
