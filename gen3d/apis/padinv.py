"""PadInv inversion tools (Bai et al., ECCV'22, arXiv 2203.11105): invert images, face blending, customised editing.

Entry points of ``tools/editing/padinv_{invert,blend,edit}.py``; the checkpoint is a trained PadInv
(:func:`gen3d.models.editing.padinv.load_padinv_checkpoint`), which holds its frozen generator.

* :func:`invert`: images -> W+ ``(N, num_ws, w_dim)`` and padding maps ``{'const': (N, C, S, S), l: ...}``; with an
  ``out_dir``, per image ``<name>.npz`` (``wplus``, ``padding_<key>``, ``meta``: JSON with the checkpoint's sha256,
  the image's name and sizes) and ``<name>_recon.png``. :func:`load_inversion` reads such a file back (as data,
  ``allow_pickle=False``; a file of another checkpoint is refused).
* :func:`blend`: the paper's face blending (Sec. 4, Fig. 1 (b); project page: "borrowing face contour from one image
  and facial details from another"): the padding maps (and the constant-input map) of one image, which carry the
  spatial layout / contour, with the W+ codes of another, which carry the facial details.
* :func:`customised_edit`: the paper's customised editing from ONE image pair (Sec. 4, Fig. 1 (c): a source and its
  hand-edited copy, e.g. by Photoshop or copy-and-paste). What is transferred is our reading of the paper, NOT
  checked against code (the official repository ships none for the applications) and not re-read offline: the W+
  difference ``W+(edited) - W+(source)``, times ``strength``, is added to each target's W+ while the target keeps
  its own padding maps (the padding space absorbs the image-specific spatial details, so the W+ difference carries
  the semantic edit). ``transfer='both'`` also adds the padding difference; ``'padding'`` only that.

Images: files (PNG / JPEG / BMP / WebP) or a folder of them (not recursive), read with PIL as data. An image must
be ``image_size`` square with the model's channel count; otherwise a ValueError names the argument, unless
``resize=True`` (centre crop to a square, then Lanczos resize) / ``convert=True`` (grey <-> RGB, alpha dropped).
Output names come from the images' names through :func:`gen3d.runtime.paths.safe_component`: they stay in
``out_dir``.
"""

from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FORMAT = "gen3d-padinv-inversion-v1"
TRANSFERS = ("wplus", "padding", "both")
ImageSource = str | Sequence[str] | Tensor


@dataclass
class Inversion:
    """Inverted images and what was written.

    Fields: ``names`` (N), ``wplus (N, num_ws, w_dim)``, ``padding {key: (N, C, S, S)} | None``,
    ``recon (N, C, R, R)`` in ``[-1, 1]``, ``meta`` (one dict per image), ``files`` (the written paths).
    """

    names: list[str]
    wplus: Tensor
    padding: dict | None
    recon: Tensor
    meta: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def list_images(source: str | Sequence[str], argument: str = "images") -> list[str]:
    """The image files of a folder (sorted, not recursive) or of a list of files; errors name ``argument``."""
    if isinstance(source, str) and osp.isdir(source):
        paths = sorted(osp.join(source, f) for f in os.listdir(source) if f.lower().endswith(IMAGE_SUFFIXES)
                       and osp.isfile(osp.join(source, f)))
        if not paths:
            raise FileNotFoundError(f"{argument}={source!r}: no {'/'.join(IMAGE_SUFFIXES)} image in this folder")
        return paths
    paths = [source] if isinstance(source, str) else list(source)
    if not paths:
        raise ValueError(f"{argument}: no image given")
    for path in paths:
        if not isinstance(path, str) or not osp.isfile(path):
            raise FileNotFoundError(f"{argument}: image {path!r} not found")
    return paths


def resolve_sources(items: Sequence[str], argument: str) -> list[str]:
    """Command-line sources: ``.npz`` files of :func:`invert` as given, or images with folders expanded."""
    items = list(items)
    if items and all(item.endswith(".npz") for item in items):
        return items
    if any(item.endswith(".npz") for item in items):
        raise ValueError(f"{argument}: give either .npz inversion files or images, not both")
    paths = []
    for item in items:
        paths += list_images(item, argument)
    return paths


def read_image(path: str, size: int, channels: int, resize: bool = False, convert: bool = False,
               argument: str = "images") -> tuple[Tensor, dict]:
    """One image as ``(channels, size, size)`` float in ``[-1, 1]`` and its info as read.

    The info is ``{'name', 'height', 'width', 'channels'}``; a wrong size / channel count is refused (ValueError
    naming ``argument``) unless ``resize`` / ``convert``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{argument}: {path!r} is not a readable image ({err})") from err
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    info = {"name": osp.basename(path), "height": int(arr.shape[0]), "width": int(arr.shape[1]),
            "channels": int(arr.shape[2])}
    if arr.dtype != np.uint8:
        raise ValueError(f"{argument}: {path!r} has {arr.dtype} pixels; 8-bit images only")
    if arr.shape[2] != channels:
        if not convert:
            raise ValueError(f"{argument}: {path!r} has {arr.shape[2]} channels, the model takes {channels} "
                             "(convert=True / --convert turns grey <-> RGB and drops alpha)")
        rgb = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
        arr = rgb if channels == 3 else np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]
    if arr.shape[:2] != (size, size):
        if not resize:
            raise ValueError(f"{argument}: {path!r} is {arr.shape[1]} x {arr.shape[0]} px, the model takes {size} x "
                             f"{size} (resize=True / --resize centre-crops and resizes)")
        h, w = arr.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop = Image.fromarray(arr[top:top + side, left:left + side].squeeze(2) if channels == 1 else
                               arr[top:top + side, left:left + side])
        arr = np.asarray(crop.resize((size, size), Image.LANCZOS)).reshape(size, size, channels)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 127.5 - 1, info


def load_images(source: ImageSource, size: int, channels: int, resize: bool = False, convert: bool = False,
                argument: str = "images") -> tuple[Tensor, list[dict]]:
    """Images as ``(N, channels, size, size)`` in ``[-1, 1]`` and their infos; a tensor is checked, not read."""
    if isinstance(source, Tensor):
        want = (channels, size, size)
        if source.ndim != 4 or tuple(source.shape[1:]) != want:
            raise ValueError(f"{argument} must be (N, {channels}, {size}, {size}) images in [-1, 1], got "
                             f"{tuple(source.shape)}")
        infos = [{"name": f"{argument}_{i:04d}", "height": size, "width": size, "channels": channels}
                 for i in range(len(source))]
        return source.float(), infos
    pairs = [read_image(p, size, channels, resize, convert, argument) for p in list_images(source, argument)]
    return torch.stack([t for t, _ in pairs]), [info for _, info in pairs]


def _load(checkpoint: str, device: str) -> tuple[nn.Module, str]:
    from gen3d.models.editing import file_sha256
    from gen3d.models.editing.padinv import load_padinv_checkpoint

    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint={checkpoint!r}: file not found")
    return load_padinv_checkpoint(checkpoint, device=device), file_sha256(checkpoint)


def _to(maps: dict | None, device: str) -> dict | None:
    return None if maps is None else {k: v.to(device) for k, v in maps.items()}


def _uint8_hwc(img: Tensor) -> np.ndarray:
    from gen3d.apis.gan_inference import to_uint8

    return to_uint8(img.clamp(-1, 1)).permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def _decode(model: nn.Module, wplus: Tensor, padding: dict | None, batch_size: int) -> Tensor:
    out = []
    for i in range(0, len(wplus), batch_size):
        maps = None if padding is None else {k: v[i:i + batch_size] for k, v in padding.items()}
        out.append(model.pool(model.decode(wplus[i:i + batch_size], maps)).cpu())
    return torch.cat(out)


@torch.no_grad()
def encode_images(model: nn.Module, imgs: Tensor, batch_size: int = 8, progress: bool = False,
                  device: str = "cpu") -> tuple[Tensor, dict | None]:
    """``imgs (N, C, R, R)`` -> ``wplus (N, num_ws, w_dim)`` and padding maps ``{key: (N, C, S, S)} | None`` (CPU)."""
    from tqdm import tqdm

    ws, maps = [], []
    for i in tqdm(range(0, len(imgs), batch_size), desc="invert", disable=not progress):
        w, m = model.encode(imgs[i:i + batch_size].to(device))
        ws.append(w.cpu())
        maps.append(None if m is None else {k: v.cpu() for k, v in m.items()})
    padding = None if maps[0] is None else {k: torch.cat([m[k] for m in maps]) for k in maps[0]}
    return torch.cat(ws), padding


def invert(checkpoint: str, images: ImageSource, out_dir: str | None = None, resize: bool = False,
           convert: bool = False, batch_size: int = 8, device: str = "cpu", progress: bool = False) -> Inversion:
    """Invert images with a trained PadInv encoder (see the module docstring).

    Args:
        checkpoint: The PadInv checkpoint.
        images: A folder, image files, or a tensor ``(N, C, R, R)`` in ``[-1, 1]``.
        out_dir: Where ``<name>.npz`` and ``<name>_recon.png`` go (created); None writes nothing.
        resize: Centre-crop and resize images that are not ``image_size`` square (else refused).
        convert: Convert the channel count (else refused).
        batch_size: Images per encoder call.
        device: Torch device.
        progress: Show a tqdm bar.

    Returns:
        The :class:`Inversion` (tensors on the CPU).
    """
    from gen3d.apis.gan_inference import save_image
    from gen3d.runtime.paths import safe_component, safe_join

    model, sha = _load(checkpoint, device)
    imgs, infos = load_images(images, model.image_size, model.img_channels, resize, convert, "images")
    wplus, padding = encode_images(model, imgs, batch_size, progress, device)
    recon = _decode(model, wplus.to(device), _to(padding, device), batch_size)
    names = [safe_component(osp.splitext(info["name"])[0]) for info in infos]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"images: two images map to the output name {dup!r} (same name, other suffix?)")
    metas = [{"format": FORMAT, "checkpoint": osp.basename(checkpoint), "checkpoint_sha256": sha,
              "image": info["name"], "image_height": info["height"], "image_width": info["width"],
              "image_channels": info["channels"], "image_size": model.image_size, "channels": model.img_channels,
              "num_ws": int(wplus.shape[1]), "w_dim": int(wplus.shape[2]),
              "padding_keys": [str(k) for k in padding] if padding else [],
              "padding_size": int(next(iter(padding.values())).shape[-1]) if padding else None,
              "resized": info["height"] != model.image_size or info["width"] != model.image_size,
              "converted": info["channels"] != model.img_channels} for info in infos]
    result = Inversion(names, wplus, padding, recon, metas)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        for i, name in enumerate(names):
            arrays = {"wplus": wplus[i].numpy(), "meta": np.array(json.dumps(metas[i]))}
            for key, value in (padding or {}).items():
                arrays[f"padding_{key}"] = value[i].numpy()
            npz = safe_join(out_dir, name + ".npz")
            np.savez(npz, **arrays)
            png = save_image(_uint8_hwc(recon[i]), safe_join(out_dir, name + "_recon.png"))
            result.files += [npz, png]
    return result


def load_inversion(path: str, checkpoint_sha256: str | None = None,
                   argument: str = "inversion") -> tuple[Tensor, dict | None, dict]:
    """A ``.npz`` of :func:`invert`: ``wplus (num_ws, w_dim)``, ``{key: (C, S, S)} | None`` and its meta.

    Args:
        path: The file.
        checkpoint_sha256: Refuse a file written for another checkpoint (None: no check).
        argument: What to name in errors.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"{argument}: {path!r} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(f"{argument}: {path!r} is not an inversion file of invert() ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "wplus" not in arrays:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{argument}: {path!r} is not an inversion file of invert() (format {got!r})")
    keys = [str(k) for k in meta.get("padding_keys", [])]
    if any(f"padding_{k}" not in arrays or not (k == "const" or k.isdigit()) for k in keys):
        raise ValueError(f"{argument}: {path!r} lists padding maps {keys} but holds {sorted(arrays)}")
    if checkpoint_sha256 is not None and meta.get("checkpoint_sha256") != checkpoint_sha256:
        raise ValueError(f"{argument}: {path!r} was inverted with another checkpoint (sha256 "
                         f"{str(meta.get('checkpoint_sha256'))[:12]}..., this one has {checkpoint_sha256[:12]}...)")
    padding = {("const" if k == "const" else int(k)): torch.from_numpy(arrays[f"padding_{k}"]) for k in keys} or None
    return torch.from_numpy(arrays["wplus"]), padding, meta


def _codes(model: nn.Module, sha: str, source: ImageSource, argument: str, resize: bool, convert: bool,
           batch_size: int, device: str, progress: bool = False) -> tuple[list[str], Tensor, dict | None]:
    """Names, W+ and padding maps of images (inverted here) or of ``.npz`` files of :func:`invert`."""
    from gen3d.runtime.paths import safe_component

    files = [source] if isinstance(source, str) and not osp.isdir(source) else source
    if isinstance(files, (list, tuple)) and files and all(isinstance(f, str) and f.endswith(".npz") for f in files):
        loaded = [load_inversion(f, sha, argument) for f in files]
        names = [safe_component(osp.splitext(osp.basename(f))[0]) for f in files]
        padding = None
        if loaded[0][1] is not None:
            padding = {k: torch.stack([p[k] for _, p, _ in loaded]) for k in loaded[0][1]}
        return names, torch.stack([w for w, _, _ in loaded]), padding
    imgs, infos = load_images(source, model.image_size, model.img_channels, resize, convert, argument)
    wplus, padding = encode_images(model, imgs, batch_size, progress, device)
    return [safe_component(osp.splitext(i["name"])[0]) for i in infos], wplus, padding


def blend(checkpoint: str, image_padding: ImageSource, image_wplus: ImageSource, out_dir: str | None = None,
          resize: bool = False, convert: bool = False, batch_size: int = 8, device: str = "cpu",
          progress: bool = False) -> dict:
    """Face blending: every (padding source, W+ source) pair, see the module docstring.

    Args:
        checkpoint: A PadInv checkpoint with the padding head (W+-only encoders have no maps to blend).
        image_padding: Images (or ``.npz`` of :func:`invert`) whose padding maps (contour) are used: ``P`` of them.
        image_wplus: Images (or ``.npz``) whose W+ codes (details) are used: ``W`` of them.
        out_dir: Where ``blend_<p>__<w>.png`` and ``blend_grid.png`` go; None writes nothing.
        resize: See :func:`invert`.
        convert: See :func:`invert`.
        batch_size: Images per call.
        device: Torch device.
        progress: tqdm bars while inverting.

    Returns:
        ``{'images': (P, W, C, R, R) in [-1, 1], 'padding_names', 'wplus_names', 'files'}``; the grid has one row per
        padding source: its reconstruction, then its maps with each W+ source.
    """
    from gen3d.apis.gan_inference import make_grid, save_image, to_uint8
    from gen3d.runtime.paths import safe_join

    model, sha = _load(checkpoint, device)
    if not model.use_padding:
        raise ValueError(f"checkpoint={checkpoint!r} is a W+-only encoder: it has no padding maps to blend")
    p_names, p_w, p_maps = _codes(model, sha, image_padding, "image_padding", resize, convert, batch_size, device,
                                  progress)
    w_names, w_w, _ = _codes(model, sha, image_wplus, "image_wplus", resize, convert, batch_size, device, progress)
    n_p, n_w = len(p_names), len(w_names)
    wplus = w_w.repeat(n_p, 1, 1)  # row-major: padding source i with every W+ source
    maps = {k: v.repeat_interleave(n_w, dim=0) for k, v in p_maps.items()}
    images = _decode(model, wplus.to(device), _to(maps, device), batch_size)
    images = images.reshape(n_p, n_w, *images.shape[1:])
    out = {"images": images, "padding_names": p_names, "wplus_names": w_names, "files": []}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        for i, p in enumerate(p_names):
            for j, w in enumerate(w_names):
                out["files"].append(save_image(_uint8_hwc(images[i, j]), safe_join(out_dir, f"blend_{p}__{w}.png")))
        own = _decode(model, p_w.to(device), _to(p_maps, device), batch_size)
        grid = torch.cat([own[:, None], images], dim=1).flatten(0, 1)
        out["files"].append(save_image(make_grid(to_uint8(grid.clamp(-1, 1)), nrow=n_w + 1),
                                       safe_join(out_dir, "blend_grid.png")))
    return out


def customised_edit(checkpoint: str, pair: tuple[ImageSource, ImageSource], targets: ImageSource,
                    out_dir: str | None = None, strength: float = 1.0, transfer: str = "wplus",
                    resize: bool = False, convert: bool = False, batch_size: int = 8, device: str = "cpu",
                    progress: bool = False) -> dict:
    """Customised editing from one image pair, applied to target images (see the module docstring).

    Args:
        checkpoint: The PadInv checkpoint.
        pair: ``(source, edited)``: one image (or ``.npz``) each.
        targets: Images (or ``.npz`` files) to edit.
        out_dir: Where ``<target>_edited.png`` and ``edit_grid.png`` (one row per target: reconstruction, edited) go.
        strength: Factor of the difference.
        transfer: ``'wplus'`` (default: the W+ difference), ``'padding'`` or ``'both'``.
        resize: See :func:`invert`.
        convert: See :func:`invert`.
        batch_size: Images per call.
        device: Torch device.
        progress: A tqdm bar while inverting the targets.

    Returns:
        ``{'edited': (N, C, R, R), 'recon': (N, C, R, R)`` in ``[-1, 1]``, ``'names', 'delta_wplus' (num_ws, w_dim),
        'files'}``.
    """
    from gen3d.apis.gan_inference import make_grid, save_image, to_uint8
    from gen3d.runtime.paths import safe_join

    if transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError("pair must be (source, edited): two images")
    model, sha = _load(checkpoint, device)
    if transfer != "wplus" and not model.use_padding:
        raise ValueError(f"transfer={transfer!r}: checkpoint={checkpoint!r} is a W+-only encoder (no padding maps)")
    codes = [_codes(model, sha, src, name, resize, convert, batch_size, device)
             for src, name in zip(pair, ("pair[0] (source)", "pair[1] (edited)"))]
    if any(len(c[0]) != 1 for c in codes):
        raise ValueError(f"pair must be one source and one edited image, got {[len(c[0]) for c in codes]}")
    (_, w_src, p_src), (_, w_edit, p_edit) = codes
    names, wplus, maps = _codes(model, sha, targets, "targets", resize, convert, batch_size, device, progress)
    delta = (w_edit - w_src)[0]
    new_w = wplus + strength * delta if transfer != "padding" else wplus
    new_maps = maps
    if maps is not None and transfer != "wplus":
        new_maps = {k: v + strength * (p_edit[k] - p_src[k]) for k, v in maps.items()}
    edited = _decode(model, new_w.to(device), _to(new_maps, device), batch_size)
    recon = _decode(model, wplus.to(device), _to(maps, device), batch_size)
    out = {"edited": edited, "recon": recon, "names": names, "delta_wplus": delta, "files": []}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        for name, img in zip(names, edited):
            out["files"].append(save_image(_uint8_hwc(img), safe_join(out_dir, f"{name}_edited.png")))
        grid = torch.stack([recon, edited], dim=1).flatten(0, 1)
        out["files"].append(save_image(make_grid(to_uint8(grid.clamp(-1, 1)), nrow=2),
                                       safe_join(out_dir, "edit_grid.png")))
    return out
