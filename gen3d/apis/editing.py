"""Latent editing of trained StyleGAN2 generators: SeFa / ReSeFa directions, edit sweeps and a locality table.

Entry points of ``tools/editing/compute_directions.py`` (:func:`compute_directions`), ``tools/editing/manipulate.py``
(:func:`manipulate`) and ``tools/benchmark.py resefa-locality`` (:func:`locality_table`); the methods themselves are
in :mod:`gen3d.models.editing`. Region boxes given to :func:`compute_directions` are ``[center_row, center_col,
height, width]`` in the official 256-px frame (zhujiapeng/resefa ``coordinate.py``), scaled to the generator's
Jacobian resolution. A region can also be a label map with label ids (``region_labels``) or a per-sample
``region_fn`` (:mod:`gen3d.models.editing.label_regions`). Mask, label-map and direction files are read as data only
(``np.load(allow_pickle=False)``, OpenCV / PIL).
"""

from __future__ import annotations

import os
import os.path as osp
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from gen3d.demos.editing_locality import locality_table  # noqa: F401 - re-exported: tools/benchmark.py resefa-locality
from gen3d.models.editing import (
    FFHQ_BOXES,
    box_to_mask,
    edit_grid,
    file_sha256,
    load_directions,
    region_mask,
    resefa_directions,
    sample_ws,
    save_directions,
    scale_box,
    sefa_directions,
)
from gen3d.models.editing.label_regions import (
    LABEL_MAP_SUFFIXES,
    RegionFn,
    describe_region_fn,
    label_mask,
    load_label_map,
    mask_at,
    parse_labels,
    read_class_names,
)
from gen3d.models.editing.manipulation import END, MANI_LAYERS, START, STEPS, TRUNC_LAYERS, TRUNC_PSI
from gen3d.models.editing.region import OFFICIAL_FRAME
from gen3d.models.editing.resefa import JACOBIAN_MAX_SIZE, NUM_SAMPLES, SEED, require_w_generator

OUTLINE_RGB = (255, 0, 0)  # the region's outline on the grid's strength-0 column
Region = Sequence[int] | str | np.ndarray | Tensor


def _resize_mask(mask: np.ndarray | Tensor, size: int) -> Tensor:
    mask = torch.as_tensor(np.asarray(mask)).bool()
    if tuple(mask.shape) == (size, size):
        return mask
    return F.interpolate(mask[None, None].float(), size=(size, size), mode="nearest")[0, 0].bool()


def load_mask(path: str, size: int) -> Tensor:
    """A region mask file (``.npy``: non-zero = region; ``.png`` etc.: grey > 127), resized (nearest) to ``size``.

    Args:
        path: ``.npy`` (read with ``allow_pickle=False``) or an image OpenCV reads.
        size: Side of the returned mask.

    Returns:
        ``(size, size)`` bool tensor.
    """
    return _resize_mask(read_mask(path), size)


def read_mask(path: str) -> np.ndarray:
    """A region mask file at its own size (see :func:`load_mask`): ``(H, W)`` bool."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"region mask {path} does not exist")
    if path.lower().endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"region mask {path}: not a plain array ({err})") from err
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise ValueError(f"region mask {path}: expected a 2-D numeric array, got {arr.dtype} {arr.shape}")
        arr = arr != 0
    else:
        import cv2

        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"region mask {path}: not an image OpenCV can read")
        arr = img > 127
    return arr


def resolve_region(region: Region, size: int) -> tuple[Region, Tensor]:
    """A user's region as what :func:`~gen3d.models.editing.save_directions` stores, and its mask at ``size``.

    Args:
        region: Box ``[cr, cc, h, w]`` in the official 256-px frame, a :data:`FFHQ_BOXES` name, a mask file path, or
            a boolean mask array.
        size: Jacobian resolution (the generator's, at most 256).

    Returns:
        ``(stored, mask)``: the box scaled to ``size`` (or the name, or the bool mask array) and ``(size, size)``.
    """
    if isinstance(region, str):
        if region in FFHQ_BOXES:
            return region, region_mask(region, size)
        if region.lower().endswith((".npy", ".png", ".jpg", ".jpeg", ".bmp")):
            return (mask := mask_at(read_mask(region), size, "region", f"mask file {region}")).numpy(), mask
        raise ValueError(f"region {region!r} is neither a box name ({sorted(FFHQ_BOXES)}) nor a .png/.npy mask file")
    if isinstance(region, (np.ndarray, Tensor)):
        return (mask := region_mask(_resize_mask(region, size), size)).numpy(), mask
    box = scale_box(region, OFFICIAL_FRAME, size, "region")
    return list(box), region_mask(box, size)


def resolve_label_region(label_map: str, labels: str | Sequence[int | str], size: int,
                         class_names: str | None = None) -> tuple[np.ndarray, Tensor, dict]:
    """The region of a label-map file: the pixels whose id is in ``labels``, at the ``size`` Jacobian resolution.

    Args:
        label_map: ``.png`` of class ids (grey / palette indices) or ``.npy`` integer array.
        labels: Ids or names (``"3,5"``, ``"nose,mouth"``, ``[3, 5]``); names need ``class_names``.
        size: Jacobian resolution.
        class_names: ``.txt`` (one a line) or ``.json`` (list or ``{"classes": [...]}``) naming the ids.

    Returns:
        ``(stored, mask, meta)``: the ``(size, size)`` bool mask as array and tensor, and what the direction file
        records (``region_labels``, ``region_label_names``, ``label_map`` and its sha256).
    """
    if not isinstance(label_map, str) or not label_map.lower().endswith(LABEL_MAP_SUFFIXES):
        raise ValueError(f"region_labels: needs a label-map file ({'/'.join(LABEL_MAP_SUFFIXES)}) as the region, "
                         f"got {label_map!r}")
    names = None if class_names is None else read_class_names(class_names)
    ids = parse_labels(labels, names)
    mask = label_mask(load_label_map(label_map), ids, size, "region_labels", f"label map {label_map}")
    meta = {"region_labels": ids, "region_label_names": None if names is None else
            [names[i] if i < len(names) else None for i in ids], "label_map": label_map,
            "label_map_sha256": file_sha256(label_map), "class_names": class_names}
    return mask.numpy(), mask, meta


def compute_directions(checkpoint: str, out: str, method: str = "resefa", region: Region | None = None,
                       layers: Sequence[int] | None = None, num_samples: int = NUM_SAMPLES, seed: int = SEED,
                       full_rank: bool = False, device: str = "cpu", per_sample: bool = False,
                       region_labels: str | Sequence[int | str] | None = None, class_names: str | None = None,
                       region_fn: RegionFn | None = None) -> str:
    """Compute SeFa or ReSeFa directions of a checkpoint's EMA generator and save them (with its sha256).

    ``per_sample`` (ReSeFa): the official output, one direction set per latent, saved as ``<out stem>_s<i>.npz``
    (``i`` = 0 .. ``num_samples - 1``); the default averages ``M_R`` and ``M_B`` over the latents into one set.
    The ReSeFa region is ``region``, a label map ``region`` with ``region_labels`` (see
    :func:`resolve_label_region`), or a per-sample ``region_fn`` (then the file stores no region mask but the
    function's description and each sample's region size in ``extra``; with ``per_sample`` each file holds its
    sample's mask).

    Args:
        checkpoint: GAN checkpoint (``.pth``) of a StyleGAN2.
        out: Output ``.npz`` (its folder is created).
        method: ``"resefa"`` (needs ``region``) or ``"sefa"`` (takes none).
        region: See :func:`resolve_region`.
        layers: SeFa: factorised layers; ReSeFa: layers the Jacobian flows through; None: all.
        num_samples: ReSeFa latents (official 5).
        seed: Their seed (official 4).
        full_rank: ReSeFa's official ``--full_rank`` regulariser.
        device: Torch device.
        per_sample: ReSeFa only: one file per latent (official), ``out`` names the first.
        region_labels: Label ids / names to target when ``region`` is a label-map file.
        class_names: Names of the label ids (with ``region_labels``).
        region_fn: ``image (1, C, R, R) -> (H, W) bool``, run on each sample, instead of ``region``.

    Returns:
        ``out`` (with ``per_sample``, the first per-sample file); a file holds ``(w_dim, w_dim)`` directions.
    """
    from gen3d.apis.gan_inference import load_generator

    if method not in ("sefa", "resefa"):
        raise ValueError(f"method must be 'sefa' or 'resefa', got {method!r}")
    if method == "sefa" and region is not None:
        raise ValueError("region: SeFa is closed-form over the whole image and takes no region (use method='resefa')")
    if per_sample and method != "resefa":
        raise ValueError("per_sample: only ReSeFa computes one direction set per latent")
    if method == "resefa" and region is None and region_fn is None:
        raise ValueError("region: ReSeFa needs a region (a box [cr, cc, h, w] at 256 px, a box name, a mask or "
                         "label-map file) or a region_fn")
    if region is not None and region_fn is not None:
        raise ValueError("region_fn: give either region or region_fn, not both")
    if region_labels is None and class_names is not None:
        raise ValueError("class_names: only used with region_labels")
    if region_labels is not None and method == "sefa":
        raise ValueError("region_labels: SeFa takes no region (use method='resefa')")
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    gen = require_w_generator(load_generator(checkpoint, device=device), f"checkpoint {checkpoint}")
    size = min(gen.synthesis.resolution, JACOBIAN_MAX_SIZE)
    layers = None if layers is None else [int(v) for v in layers]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if method == "sefa":
        values, dirs = sefa_directions(gen, layers)
        save_directions(out, dirs, values, method="sefa", layers=layers, resolution=size, checkpoint=checkpoint)
        return out
    extra = {"region_input": list(region) if isinstance(region, Sequence) and not isinstance(region, str) else None,
             "full_rank": full_rank}
    if region_fn is not None:
        stored, mask = None, None
        extra["region_fn"] = describe_region_fn(region_fn)
    elif region_labels is not None:
        stored, mask, label_meta = resolve_label_region(region, region_labels, size, class_names)
        extra.update(label_meta)
    else:
        stored, mask = resolve_region(region, size)
    result = resefa_directions(gen, None if mask is None else mask.to(next(gen.parameters()).device), num_samples,
                               seed, average=not per_sample, full_rank=full_rank, layers=layers, region_fn=region_fn)
    if region_fn is not None:
        extra["region_pixels"] = [int(m.sum()) for m in result.masks]  # each sample's own region
    if not per_sample:
        save_directions(out, result.directions, result.eigenvalues, method="resefa", layers=layers, region=stored,
                        samples=num_samples, seed=seed, resolution=size, checkpoint=checkpoint, extra=extra)
        return out
    stem, paths = osp.splitext(out)[0], []
    for i in range(len(result.directions)):  # the official image_{i:02d}_... files, one latent each
        paths.append(f"{stem}_s{i}.npz")  # with a region_fn, each file holds its own sample's region
        save_directions(paths[-1], result.directions[i], result.eigenvalues[i], method="resefa", layers=layers,
                        region=stored if region_fn is None else result.masks[i], samples=num_samples, seed=seed,
                        resolution=size, checkpoint=checkpoint,
                        extra={**extra, "sample": i})
    return paths[0]


def stored_region_mask(meta: dict, mask: np.ndarray | None, size: int) -> Tensor | None:
    """The region of a directions file (:class:`~gen3d.models.editing.DirectionSet`) at ``size``, or None."""
    region, res = meta.get("region"), meta.get("resolution") or size
    if region is None:
        return None
    if region["type"] == "box":
        return _resize_mask(box_to_mask(region["box"], res, "region"), size)
    if region["type"] == "name":
        return region_mask(region["name"], size)
    return _resize_mask(mask, size)


def outline(mask: Tensor) -> Tensor:
    """``(H, W)`` bool: the region's pixels with a 4-neighbour outside it (or on the image border)."""
    m = mask.bool()
    pad = F.pad(m[None, None].float(), (1, 1, 1, 1))[0, 0].bool()
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~inner


def manipulate(checkpoint: str, directions_file: str, out_dir: str, index: int = 0,
               layers: Sequence[int] | None = MANI_LAYERS, start: float = START, end: float = END,
               steps: int = STEPS, psi: float = TRUNC_PSI, trunc_layers: int = TRUNC_LAYERS,
               seeds: Sequence[int] = (0, 1, 2), fps: int = 4, scale: int = 1, device: str = "cpu") -> list[str]:
    """Edit sweeps along one direction: ``grid_<index>.png`` (rows: seeds, columns: strengths) and a GIF per seed.

    The grid's column nearest strength 0 carries the region's outline (:data:`OUTLINE_RGB`) when the file has a
    region. Grey generators are written as RGB.

    Args:
        checkpoint: The GAN checkpoint the directions were computed for (sha256 checked).
        directions_file: ``.npz`` of :func:`compute_directions`.
        out_dir: Output folder (created); file names are built from ints only.
        index: Direction (row) to use.
        layers: Edited layers, clipped to the generator's ``num_ws``; None: all.
        start: First strength.
        end: Last strength.
        steps: Strengths (``linspace(start, end, steps)``).
        psi: Truncation strength.
        trunc_layers: Truncated layers.
        seeds: One row per seed (``sample_ws(gen, 1, seed)``).
        fps: GIF frame rate.
        scale: Nearest up-scaling of what is written.
        device: Torch device.

    Returns:
        The written paths: the grid, then one ``seed_<s>_dir<index>.gif`` per seed.
    """
    from gen3d.apis.gan_inference import load_generator, make_grid, save_image, to_uint8, write_animation

    ds = load_directions(directions_file)
    stored = ds.metadata["checkpoint_sha256"]
    if stored is None:
        warnings.warn(f"{directions_file} records no checkpoint sha256: cannot check it belongs to {checkpoint}",
                      stacklevel=2)
    elif stored != (actual := file_sha256(checkpoint)):
        raise ValueError(f"{directions_file} was computed for another generator (checkpoint sha256 {stored[:12]}..., "
                         f"{checkpoint} has {actual[:12]}...)")
    gen = require_w_generator(load_generator(checkpoint, device=device), f"checkpoint {checkpoint}")
    if not 0 <= index < len(ds.directions):
        raise ValueError(f"index must be in [0, {len(ds.directions)}), got {index}")
    if ds.directions.shape[1] != gen.w_dim:
        raise ValueError(f"{directions_file} has {ds.directions.shape[1]}-d directions, the generator has w_dim "
                         f"{gen.w_dim}")
    if layers is not None:
        kept = [int(v) for v in layers if 0 <= int(v) < gen.num_ws]
        if not kept:
            raise ValueError(f"layers {list(layers)}: none exists in this generator (num_ws={gen.num_ws}, "
                             f"layers 0..{gen.num_ws - 1})")
        layers = kept
    if not seeds:
        raise ValueError("seeds must not be empty")
    ws = torch.cat([sample_ws(gen, 1, int(s), psi, trunc_layers) for s in seeds])
    imgs = to_uint8(edit_grid(gen, ws, ds.directions[index], layers, start, end, steps).flatten(0, 1)).cpu()
    res = imgs.shape[-1]
    imgs = imgs.reshape(len(seeds), steps, *imgs.shape[1:])
    if imgs.shape[2] == 1:
        imgs = imgs.repeat(1, 1, 3, 1, 1)
    os.makedirs(out_dir, exist_ok=True)
    gifs = []
    for i, seed in enumerate(seeds):
        frames = torch.cat([imgs[i], imgs[i].flip(0)[1:-1]])  # there and back
        gifs.append(write_animation(frames, osp.join(out_dir, f"seed_{int(seed):04d}_dir{index:03d}.gif"), fps, scale))
    mask = stored_region_mask(ds.metadata, ds.region_mask, res)
    if mask is not None:
        col = int(np.abs(np.linspace(start, end, steps)).argmin())
        edge = outline(mask)
        for c, v in enumerate(OUTLINE_RGB):
            imgs[:, col, c][:, edge] = v
    grid = make_grid(imgs.flatten(0, 1), nrow=steps).repeat(scale, 0).repeat(scale, 1)
    return [save_image(grid, osp.join(out_dir, f"grid_dir{index:03d}.png")), *gifs]
