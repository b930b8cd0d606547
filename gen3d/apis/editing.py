"""Latent editing of trained StyleGAN2 generators: SeFa / ReSeFa directions, edit sweeps and a locality table.

Entry points of ``tools/editing/compute_directions.py`` (:func:`compute_directions`), ``tools/editing/manipulate.py``
(:func:`manipulate`) and ``tools/benchmark.py resefa-locality`` (:func:`locality_table`); the methods themselves are
in :mod:`gen3d.models.editing`. Region boxes given to :func:`compute_directions` are ``[center_row, center_col,
height, width]`` in the official 256-px frame (zhujiapeng/resefa ``coordinate.py``), scaled to the generator's
Jacobian resolution. Mask and direction files are read as data only (``np.load(allow_pickle=False)``, OpenCV).
"""

from __future__ import annotations

import os
import os.path as osp
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.models.editing import (
    FFHQ_BOXES,
    box_to_mask,
    edit_grid,
    file_sha256,
    load_directions,
    locality_ratio,
    region_mask,
    resefa_directions,
    sample_ws,
    save_directions,
    scale_box,
    sefa_directions,
)
from gen3d.models.editing.manipulation import END, MANI_LAYERS, START, STEPS, TRUNC_LAYERS, TRUNC_PSI
from gen3d.models.editing.region import OFFICIAL_FRAME
from gen3d.models.editing.resefa import JACOBIAN_MAX_SIZE, NUM_SAMPLES, SEED

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
    return _resize_mask(arr, size)


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
            return (mask := region_mask(load_mask(region, size), size)).numpy(), mask
        raise ValueError(f"region {region!r} is neither a box name ({sorted(FFHQ_BOXES)}) nor a .png/.npy mask file")
    if isinstance(region, (np.ndarray, Tensor)):
        return (mask := region_mask(_resize_mask(region, size), size)).numpy(), mask
    box = scale_box(region, OFFICIAL_FRAME, size, "region")
    return list(box), region_mask(box, size)


def compute_directions(checkpoint: str, out: str, method: str = "resefa", region: Region | None = None,
                       layers: Sequence[int] | None = None, num_samples: int = NUM_SAMPLES, seed: int = SEED,
                       full_rank: bool = False, device: str = "cpu", per_sample: bool = False) -> str:
    """Compute SeFa or ReSeFa directions of a checkpoint's EMA generator and save them (with its sha256).

    ``per_sample`` (ReSeFa): the official output, one direction set per latent, saved as ``<out stem>_s<i>.npz``
    (``i`` = 0 .. ``num_samples - 1``); the default averages ``M_R`` and ``M_B`` over the latents into one set.

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
    if method == "resefa" and region is None:
        raise ValueError("region: ReSeFa needs a region (a box [cr, cc, h, w] at 256 px, a box name or a mask file)")
    gen = load_generator(checkpoint, device=device)
    size = min(gen.synthesis.resolution, JACOBIAN_MAX_SIZE)
    layers = None if layers is None else [int(v) for v in layers]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if method == "sefa":
        values, dirs = sefa_directions(gen, layers)
        save_directions(out, dirs, values, method="sefa", layers=layers, resolution=size, checkpoint=checkpoint)
        return out
    stored, mask = resolve_region(region, size)
    result = resefa_directions(gen, mask.to(next(gen.parameters()).device), num_samples, seed,
                               average=not per_sample, full_rank=full_rank, layers=layers)
    extra = {"region_input": list(region) if isinstance(region, Sequence) and not isinstance(region, str) else None,
             "full_rank": full_rank}
    if not per_sample:
        save_directions(out, result.directions, result.eigenvalues, method="resefa", layers=layers, region=stored,
                        samples=num_samples, seed=seed, resolution=size, checkpoint=checkpoint, extra=extra)
        return out
    stem, paths = osp.splitext(out)[0], []
    for i in range(len(result.directions)):  # the official image_{i:02d}_... files, one latent each
        paths.append(f"{stem}_s{i}.npz")
        save_directions(paths[-1], result.directions[i], result.eigenvalues[i], method="resefa", layers=layers,
                        region=stored, samples=num_samples, seed=seed, resolution=size, checkpoint=checkpoint,
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
    gen = load_generator(checkpoint, device=device)
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


def locality_table(generator: nn.Module, region: Region, layers: Sequence[int] | None = None, num_eval: int = 8,
                   seed: int = 123, num_random: int = 20, alpha: float = 1.0, num_samples: int = NUM_SAMPLES,
                   direction_seed: int = SEED) -> list[dict]:
    """Locality ratios of the top ReSeFa direction, the top SeFa direction and random unit directions.

    The ratio is :func:`~gen3d.models.editing.locality_ratio`: mean ``|dx|`` inside the region over that outside.

    Args:
        generator: A StyleGAN2 generator in eval mode.
        region: Box ``[cr, cc, h, w]`` in pixels of the Jacobian resolution (generator's, at most 256), a
            :data:`FFHQ_BOXES` name or an ``(R, R)`` boolean mask.
        layers: Layers the Jacobian flows through, SeFa factorises and the edit moves; None: all.
        num_eval: Evaluation latents (seed ``seed``, truncated as the manipulation).
        seed: Their seed; must differ from ``direction_seed`` (held-out latents).
        num_random: Random directions (seed ``seed + 1``).
        alpha: Edit strength along the unit directions.
        num_samples: ReSeFa latents.
        direction_seed: Their seed.

    Returns:
        Rows ``direction``, ``locality`` (mean ratio), ``std`` (over the evaluation latents; random: over the random
        directions' mean ratios), ``x random`` (locality over the random mean).
    """
    if seed == direction_seed:
        raise ValueError(f"seed must differ from direction_seed ({seed}): evaluate on latents the directions did not "
                         "see")
    res = generator.synthesis.resolution
    size = min(res, JACOBIAN_MAX_SIZE)
    mask = region_mask(_resize_mask(region if isinstance(region, (np.ndarray, Tensor)) else region_mask(region, size),
                                    size), size)
    eval_mask = _resize_mask(mask, res)
    dev = next(generator.parameters()).device
    resefa = resefa_directions(generator, mask.to(dev), num_samples, direction_seed, layers=layers).directions[0]
    sefa = sefa_directions(generator, layers)[1][0]
    ws = sample_ws(generator, num_eval, seed)
    rows = []
    for name, n in (("ReSeFa top", resefa), ("SeFa top", sefa)):
        ratios = locality_ratio(generator, ws, n, eval_mask, alpha, layers, per_latent=True)
        rows.append({"direction": name, "locality": float(ratios.mean()), "std": float(ratios.std(unbiased=False))})
    rand = np.random.RandomState(seed + 1).randn(num_random, generator.w_dim)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    means = np.array([locality_ratio(generator, ws, n, eval_mask, alpha, layers) for n in rand])
    rows.append({"direction": f"random (mean of {num_random})", "locality": float(means.mean()),
                 "std": float(means.std())})
    for row in rows:
        row["x random"] = row["locality"] / rows[-1]["locality"]
    return rows
