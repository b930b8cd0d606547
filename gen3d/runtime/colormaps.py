"""Maps as pictures (numpy + OpenCV, no torch): depth and normal panels, and label-map colours.

Depth and normals are the panels beside a generator's RGB, used by the torch-free runtime
(:mod:`gen3d.runtime.generation`) and by ``tools/gan/generate.py`` (:mod:`gen3d.apis.gan_3d`), so that both draw
the same colours. :func:`label_colormap` and :func:`colorize_labels` colour segmentation label maps
(:mod:`gen3d.runtime.segmentation`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["colorize_labels", "depth_to_rgb", "geometry_panels", "label_colormap", "normal_to_rgb"]


def depth_to_rgb(depth: np.ndarray, mask: np.ndarray | None = None, threshold: float = 0.5,
                 shared: bool = False) -> np.ndarray:
    """Colour-map depths, near bright (inferno), on the foreground's range; background black.

    Args:
        depth: float ``[N, H, W, 1]`` (or ``[N, H, W]``).
        mask: Optional opacity, same shape; the depth is divided by it (``sum w t / sum w``).
        threshold: Foreground opacity (below it: background).
        shared: One range over all N images (the frames of a camera sweep: colours that do not flicker from frame
            to frame); False: each image on its own range.

    Returns:
        uint8 ``[N, H, W, 3]`` RGB.
    """
    d = np.asarray(depth, np.float32).reshape(len(depth), *np.shape(depth)[1:3])
    fg = np.ones_like(d, bool)
    if mask is not None:  # sum w t / sum w: the surface depth, not pulled towards 0 by a partial opacity
        m = np.asarray(mask, np.float32).reshape(d.shape)
        d, fg = d / np.maximum(m, 1e-6), m >= threshold
    out = np.zeros((*d.shape, 3), np.uint8)
    if not fg.any():  # nothing rendered anywhere: all background
        return out
    whole = (float(d[fg].min()), float(d[fg].max()))
    for k in range(len(d)):
        sel = fg[k]
        if not sel.any():  # nothing rendered: all background
            continue
        lo, hi = whole if shared else (float(d[k][sel].min()), float(d[k][sel].max()))
        near = np.clip((hi - d[k]) / max(hi - lo, 1e-8), 0, 1)  # 1 at the nearest surface
        rgb = cv2.cvtColor(cv2.applyColorMap((near * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        out[k] = np.where(sel[..., None], rgb, 0)
    return out


def normal_to_rgb(normal: np.ndarray) -> np.ndarray:
    """Unit normals ``[N, H, W, 3]`` -> uint8 RGB ``(n + 1) / 2`` (zero normals, no surface, grey)."""
    return np.clip((np.asarray(normal, np.float32) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def geometry_panels(maps: dict[str, np.ndarray], shared_depth: bool = False) -> np.ndarray:
    """RGB, depth and normal side by side per sample: uint8 ``[N, H, K * W, 3]`` (the maps present, grey to RGB).

    Args:
        maps: ``image`` uint8 ``[N, H, W, C]`` and optionally ``depth``, ``normal``, ``mask`` float NHWC
            (:meth:`~gen3d.runtime.generation.GeneratorRuntime.generate_maps`).
        shared_depth: One depth colour range over all samples (:func:`depth_to_rgb` ``shared``).
    """
    image = maps["image"] if maps["image"].shape[-1] == 3 else maps["image"].repeat(3, -1)
    panels = [image]
    if "depth" in maps:
        panels.append(depth_to_rgb(maps["depth"], maps.get("mask"), shared=shared_depth))
    if "normal" in maps:
        panels.append(normal_to_rgb(maps["normal"]))
    return np.concatenate(panels, 2)


def label_colormap(num_classes: int) -> np.ndarray:
    """The fixed colormap for label maps without a dataset palette: PASCAL VOC's bit-interleaved colours.

    Class ``k``'s colour spreads the bits of ``k`` over the high bits of R, G and B (the VOC devkit's
    ``labelcolormap``), so neighbouring ids get distinct colours, class 0 is black, and the first 21 colours are
    the VOC palette people know. Distinct for every id below ``2 ** 24``.

    Args:
        num_classes: Colours wanted.

    Returns:
        uint8 ``(num_classes, 3)`` RGB.
    """
    ids = np.arange(int(num_classes), dtype=np.int64)
    cmap = np.zeros((len(ids), 3), np.int64)
    c = ids.copy()
    for shift in range(7, -1, -1):
        for ch in range(3):
            cmap[:, ch] |= ((c >> ch) & 1) << shift
        c >>= 3
    return cmap.astype(np.uint8)


def colorize_labels(label_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour a label map: ``palette[label]`` per pixel (ids past the palette are drawn grey).

    Args:
        label_map: ``(H, W)`` integer class ids.
        palette: uint8 ``(C, 3)`` RGB.

    Returns:
        uint8 ``(H, W, 3)`` RGB.
    """
    palette = np.asarray(palette, np.uint8).reshape(-1, 3)
    table = np.concatenate([palette, np.full((1, 3), 128, np.uint8)])
    ids = np.asarray(label_map).astype(np.int64)
    return table[np.where((ids >= 0) & (ids < len(palette)), ids, len(palette))]
