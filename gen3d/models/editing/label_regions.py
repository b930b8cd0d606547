"""ReSeFa regions from segmentation labels and per-sample region functions (Zhu et al., ICML'22, arXiv 2202.09649).

The official code (zhujiapeng/resefa@973889c) takes boxes and notes that "segmentation masks are also supported";
here a region can be

* a label map (``.png`` of class ids: grey, 16-bit grey or palette indices, read as stored values; or a ``.npy``
  integer array) plus the label ids to target, optionally by name from a class-names file (``.txt`` one a line,
  or ``.json``: a list, or ``{"classes": [...]}`` as a segmentation dataset's metainfo);
* a per-sample region function ``region_fn(image (1, C, R, R)) -> (H, W) bool``, run on each generated sample (for
  example a segmentor, :func:`segmentor_region_fn`), so the region follows the sample and ReSeFa's ``M_R`` /
  ``M_B`` use each sample's own mask.

Every mask is resized (nearest) to the Jacobian resolution, then checked: an empty region or one covering the whole
image (no complement for ``M_B``) is refused naming the argument and the pixel counts before and after resizing.
Files are data: ``np.load(allow_pickle=False)``, PIL for images.
"""

from __future__ import annotations

import json
import os.path as osp
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: ``image (1, C, R, R) in [-1, 1] -> (H, W) bool`` region of that sample.
RegionFn = Callable[[Tensor], Tensor]
LABEL_MAP_SUFFIXES = (".png", ".npy", ".bmp", ".tif", ".tiff")


def read_class_names(path: str) -> tuple[str, ...]:
    """Class names in label order from ``.txt`` (one a line) or ``.json`` (a list or ``{"classes": [...]}``).

    Args:
        path: The file.

    Returns:
        The names; ``names[i]`` is label id ``i``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"class_names {path} does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"class_names {path}: not valid JSON ({err})") from err
        names = data.get("classes") if isinstance(data, dict) else data
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"class_names {path}: expected a list of names or {{\"classes\": [...]}}")
    else:
        names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"class_names {path}: expected distinct, non-empty names, got {names!r}")
    return tuple(names)


def load_label_map(path: str) -> np.ndarray:
    """A label map file as class ids.

    Args:
        path: ``.npy`` 2-D integer array (``allow_pickle=False``) or a lossless image of class ids (grey, 16-bit
            grey, palette indices; never colours).

    Returns:
        ``(H, W)`` int64 ids.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"label map {path} does not exist")
    if path.lower().endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"label map {path}: not a plain array ({err})") from err
        if arr.ndim != 2 or arr.dtype.kind not in "iu":
            raise ValueError(f"label map {path}: expected a 2-D integer array of class ids, got {arr.dtype} "
                             f"{arr.shape}")
        return arr.astype(np.int64)
    from gen3d.datasets.transforms.seg_loading import read_label_map

    return read_label_map(path).astype(np.int64)


def parse_labels(labels: str | int | Sequence[int | str], class_names: Sequence[str] | None = None,
                 name: str = "region_labels") -> list[int]:
    """Label ids from ``"3,5"``, ``"skin,nose"`` (with ``class_names``) or a sequence of ids / names.

    Args:
        labels: Ids and/or names.
        class_names: ``class_names[i]`` names id ``i``; needed for names.
        name: Argument name used in error messages.

    Returns:
        The distinct ids in the given order.
    """
    items = labels.split(",") if isinstance(labels, str) else [labels] if isinstance(labels, int) else list(labels)
    ids: list[int] = []
    for item in items:
        text = str(item).strip()
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) or text.isdigit():
            value = int(text)
        elif not text:
            raise ValueError(f"{name}: empty entry in {labels!r}")
        elif class_names is None:
            raise ValueError(f"{name}: {text!r} is not a label id; give class names to use names")
        elif text not in class_names:
            raise ValueError(f"{name}: {text!r} is not a class name; known: {list(class_names)}")
        else:
            value = list(class_names).index(text)
        if value not in ids:
            ids.append(value)
    if not ids:
        raise ValueError(f"{name}: no label given")
    return ids


def mask_at(mask: np.ndarray | Tensor, size: int, name: str = "region", source: str = "mask") -> Tensor:
    """A boolean mask resized (nearest) to the ``size`` Jacobian resolution, with region and complement non-empty.

    Args:
        mask: ``(H, W)`` bool.
        size: Jacobian resolution.
        name: Argument name used in error messages.
        source: What the mask came from, for the messages.

    Returns:
        ``(size, size)`` bool (CPU).
    """
    m = torch.as_tensor(np.asarray(mask.detach().cpu()) if isinstance(mask, Tensor) else np.asarray(mask))
    if m.ndim != 2 or m.dtype != torch.bool:
        raise ValueError(f"{name}: {source} must be a 2-D boolean mask, got {m.dtype} {tuple(m.shape)}")
    (h, w), before = m.shape, int(m.sum())
    if (h, w) != (size, size):
        m = F.interpolate(m[None, None].float(), size=(size, size), mode="nearest")[0, 0].bool()
    count, total = int(m.sum()), size * size
    where = (f"{before} of {h * w} pixels in the {h}x{w} {source}, {count} of {total} at the {size}x{size} Jacobian "
             "resolution")
    if count == 0:
        raise ValueError(f"{name}: the region is empty ({where}); choose a larger region")
    if count == total:
        raise ValueError(f"{name}: the region covers the whole image ({where}); ReSeFa needs a complement for M_B")
    return m


def label_mask(label_map: np.ndarray | Tensor, labels: Sequence[int], size: int, name: str = "region_labels",
               source: str = "label map") -> Tensor:
    """The pixels of ``label_map`` whose id is in ``labels``, at the ``size`` Jacobian resolution.

    Args:
        label_map: ``(H, W)`` integer ids.
        labels: Ids to target; each must occur in the map.
        size: Jacobian resolution.
        name: Argument name used in error messages.
        source: What the map came from, for the messages.

    Returns:
        ``(size, size)`` bool.
    """
    ids = np.asarray(label_map.detach().cpu() if isinstance(label_map, Tensor) else label_map)
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise ValueError(f"{name}: {source} must be a 2-D integer array of ids, got {ids.dtype} {ids.shape}")
    present = np.unique(ids).tolist()
    absent = [v for v in labels if v not in present]
    if absent:
        raise ValueError(f"{name}: label(s) {absent} absent from the {source} (ids present: {present})")
    return mask_at(np.isin(ids, list(labels)), size, name, f"{source} (labels {list(labels)})")


def label_region_fn(label_fn: Callable[[Tensor], Tensor], labels: Sequence[int], description: str = "") -> RegionFn:
    """A per-sample :data:`RegionFn` from ``label_fn(image (1, C, R, R)) -> (H, W) ids``: pixels of ``labels``.

    The returned function carries ``description`` (or ``label_fn``'s name) and ``labels`` as attributes; what the
    direction files record.
    """
    labels = [int(v) for v in labels]

    def fn(image: Tensor) -> Tensor:
        ids = label_fn(image)
        if ids.ndim != 2:
            raise ValueError(f"region_fn: label function returned shape {tuple(ids.shape)}, expected (H, W) ids")
        return torch.isin(ids.long(), torch.tensor(labels, device=ids.device))

    fn.description = description or f"{getattr(label_fn, '__name__', type(label_fn).__name__)} labels {labels}"
    fn.labels = labels
    return fn


def segmentor_region_fn(segmentor: nn.Module, labels: Sequence[int], description: str = "") -> RegionFn:
    """A registered segmentor (``inference(x) -> (1, K, H, W)`` logits) as a per-sample region of ``labels``.

    The generated image ``[-1, 1]`` becomes 0-255 RGB (grey repeated), normalised with the segmentor's
    ``data_preprocessor`` mean / std when it has them, then segmented; the region is the argmax in ``labels``.
    """
    pre = getattr(segmentor, "data_preprocessor", None)
    mean, std = getattr(pre, "mean", None), getattr(pre, "std", None)

    @torch.no_grad()
    def label_fn(image: Tensor) -> Tensor:
        x = (image.float().clamp(-1, 1) + 1) * 127.5
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
        if mean is not None and std is not None:
            x = (x - mean.reshape(1, -1, 1, 1).to(x)) / std.reshape(1, -1, 1, 1).to(x)
        return segmentor.inference(x).argmax(dim=1)[0]

    return label_region_fn(label_fn, labels, description or f"{type(segmentor).__name__} labels {list(labels)}")


def sample_masks(region_fn: RegionFn, images: Tensor, size: int, name: str = "region_fn") -> Tensor:
    """Each sample's region: ``region_fn`` on ``images[i:i + 1]``, resized to ``size`` and checked.

    Args:
        region_fn: See :data:`RegionFn`.
        images: ``(S, C, R, R)`` generated images in ``[-1, 1]``.
        size: Jacobian resolution.
        name: Argument name used in error messages (``"<name> (sample i)"``).

    Returns:
        ``(S, size, size)`` bool.
    """
    masks = []
    for i in range(images.shape[0]):
        mask = region_fn(images[i:i + 1])
        if not isinstance(mask, Tensor):
            raise ValueError(f"{name} (sample {i}): must return a torch bool tensor, got {type(mask).__name__}")
        masks.append(mask_at(mask.detach().cpu(), size, f"{name} (sample {i})", "region_fn output"))
    return torch.stack(masks)


def describe_region_fn(region_fn: RegionFn) -> str:
    """What the direction files record of a region function: its ``description`` attribute or its name."""
    return str(getattr(region_fn, "description", None) or getattr(region_fn, "__qualname__", None)
               or type(region_fn).__name__)
