"""Target regions of ReSeFa (Zhu et al., ICML'22, "Region-Based Semantic Factorization in GANs", arXiv 2202.09649).

A region is a box or a boolean mask. Boxes follow the official ``coordinate.py:get_mask_by_coordinates``
(zhujiapeng/resefa@973889c): ``[center_row, center_col, height, width]`` in pixels, the mask covering rows
``center_row - height // 2 .. + height`` and columns ``center_col - width // 2 .. + width``. The official FFHQ boxes
(:data:`FFHQ_BOXES`) are given in the 256-px frame its Jacobians are computed in; :func:`scale_box` moves a box to
another resolution. Unlike the official NumPy slicing, which silently clips (or wraps, for a negative start) a box
that leaves the image, a box must lie inside the image here; otherwise a ``ValueError`` names the argument.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

#: Resolution of the frame the official boxes are given in (the Jacobian is taken at <= 256 px).
OFFICIAL_FRAME = 256

#: ``COORDINATE_ffhq`` of the official ``coordinate.py`` (also used for MetFaces), in the 256-px frame.
FFHQ_BOXES: dict[str, tuple[int, int, int, int]] = {
    "left_eye": (120, 95, 20, 38),
    "right_eye": (120, 159, 20, 38),
    "eyes": (120, 128, 20, 115),
    "nose": (142, 131, 40, 46),
    "mouth": (184, 127, 30, 70),
    "chin": (217, 130, 42, 110),
    "eyebrow": (126, 105, 15, 118),
}

Box = Sequence[int]
Region = Box | np.ndarray | Tensor


def _check_resolution(resolution: int, name: str = "resolution") -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"{name} must be a positive int, got {resolution!r}")
    return int(resolution)


def validate_box(box: Box, resolution: int, name: str = "box") -> tuple[int, int, int, int]:
    """Check a box ``[center_row, center_col, height, width]`` against an image of side ``resolution``.

    Args:
        box: Four integers in pixels of the ``resolution`` frame.
        resolution: Image side.
        name: Argument name used in error messages.

    Returns:
        The box as a tuple of Python ints.

    Raises:
        ValueError: Naming ``name`` when the box is not four integers, has a non-positive size or leaves the image.
    """
    resolution = _check_resolution(resolution)
    if isinstance(box, (str, bytes)) or not isinstance(box, Sequence) or len(box) != 4:
        raise ValueError(f"{name} must be [center_row, center_col, height, width], got {box!r}")
    values = []
    for item in box:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise ValueError(f"{name} entries must be integers (pixels), got {box!r}")
        values.append(int(item))
    cr, cc, h, w = values
    if h < 1 or w < 1:
        raise ValueError(f"{name} height and width must be >= 1, got {box!r}")
    r0, c0 = cr - h // 2, cc - w // 2
    if r0 < 0 or c0 < 0 or r0 + h > resolution or c0 + w > resolution:
        raise ValueError(f"{name} {box!r} covers rows [{r0}, {r0 + h}) and columns [{c0}, {c0 + w}), outside the "
                         f"{resolution}x{resolution} image")
    return cr, cc, h, w


def box_to_mask(box: Box, resolution: int, name: str = "box") -> Tensor:
    """Boolean mask of a box, as the official ``get_mask_by_coordinates``.

    Args:
        box: ``[center_row, center_col, height, width]`` in pixels of the ``resolution`` frame.
        resolution: Image side.
        name: Argument name used in error messages.

    Returns:
        ``(resolution, resolution)`` bool tensor, True inside the box.
    """
    cr, cc, h, w = validate_box(box, resolution, name)
    mask = torch.zeros(resolution, resolution, dtype=torch.bool)
    r0, c0 = cr - h // 2, cc - w // 2
    mask[r0:r0 + h, c0:c0 + w] = True
    return mask


def scale_box(box: Box, src_resolution: int = OFFICIAL_FRAME, dst_resolution: int = OFFICIAL_FRAME,
              name: str = "box") -> tuple[int, int, int, int]:
    """Move a box between frames (e.g. an official 256-px box to a 16-px generator).

    Centres and sizes scale by ``dst / src`` and are rounded; sizes stay >= 1. The result is validated against
    ``dst_resolution`` (the box must still lie inside the image).

    Args:
        box: ``[center_row, center_col, height, width]`` in pixels of the ``src_resolution`` frame.
        src_resolution: Frame of ``box``.
        dst_resolution: Target frame.
        name: Argument name used in error messages.

    Returns:
        The box in the ``dst_resolution`` frame.
    """
    cr, cc, h, w = validate_box(box, src_resolution, name)
    s = _check_resolution(dst_resolution, "dst_resolution") / src_resolution
    h2, w2 = max(1, round(h * s)), max(1, round(w * s))
    # keep the top-left corner where the scaled box starts, then express it as a centre again
    r0, c0 = round((cr - h // 2) * s), round((cc - w // 2) * s)
    r0, c0 = min(max(r0, 0), dst_resolution - h2), min(max(c0, 0), dst_resolution - w2)
    return validate_box((r0 + h2 // 2, c0 + w2 // 2, h2, w2), dst_resolution, name)


def region_mask(region: Region, resolution: int, name: str = "region") -> Tensor:
    """A region (box or boolean mask) as a boolean mask at ``resolution``.

    Args:
        region: A box ``[center_row, center_col, height, width]`` in pixels of the ``resolution`` frame, a box name
            of :data:`FFHQ_BOXES` (scaled from the 256-px frame), or a ``(resolution, resolution)`` boolean mask
            (NumPy or torch).
        resolution: Image side.
        name: Argument name used in error messages.

    Returns:
        ``(resolution, resolution)`` bool tensor (CPU). Both the region and its complement are non-empty.

    Raises:
        ValueError: Naming ``name`` for a malformed box, a mask of the wrong shape or dtype, or an empty region or
            complement.
    """
    resolution = _check_resolution(resolution)
    if isinstance(region, str):
        if region not in FFHQ_BOXES:
            raise ValueError(f"{name} {region!r} is not a known box; known: {sorted(FFHQ_BOXES)}")
        mask = box_to_mask(scale_box(FFHQ_BOXES[region], OFFICIAL_FRAME, resolution, name), resolution, name)
    elif isinstance(region, (np.ndarray, Tensor)):
        mask = torch.as_tensor(region).detach().cpu()
        if mask.dtype != torch.bool:
            raise ValueError(f"{name} mask must be boolean, got dtype {mask.dtype}")
        if tuple(mask.shape) != (resolution, resolution):
            raise ValueError(f"{name} mask must have shape ({resolution}, {resolution}), got {tuple(mask.shape)}")
    else:
        mask = box_to_mask(region, resolution, name)
    count = int(mask.sum())
    if count == 0 or count == mask.numel():
        raise ValueError(f"{name} and its complement must both be non-empty (region has {count} of "
                         f"{mask.numel()} pixels)")
    return mask
