"""Save and load editing directions (SeFa, arXiv 2007.06600; ReSeFa, arXiv 2202.09649) as ``.npz`` files.

The official repositories save bare ``.npy`` arrays (zhujiapeng/resefa@973889c ``compute_direction.py``); here one
``.npz`` holds ``directions (K, d)``, ``eigenvalues (K,)``, an optional ``region_mask (H, W)`` and ``metadata``, a
JSON string (a NumPy unicode scalar, never a pickled object): method, layers, region, samples, seed, resolution and
the generator checkpoint's sha256 when given. Loading uses ``np.load(allow_pickle=False)``, so a file can never run
code, and every malformed entry raises a ``ValueError`` naming the file and the key.
"""

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from gen3d.runtime.manifest import sha256_file as file_sha256  # one file hash for bundles and direction files

METHODS = ("sefa", "resefa")
FORMAT_VERSION = 1
REQUIRED_METADATA = ("format_version", "method", "layers", "region", "samples", "seed", "resolution",
                     "checkpoint_sha256")


@dataclass
class DirectionSet:
    """Directions with their provenance.

    Attributes:
        directions: ``(K, d)`` float64, rows sorted by descending eigenvalue.
        eigenvalues: ``(K,)`` float64.
        metadata: The JSON metadata (see the module docstring).
        region_mask: ``(H, W)`` bool, or None (SeFa, or a box region: the box is in ``metadata["region"]``).
    """

    directions: np.ndarray
    eigenvalues: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    region_mask: np.ndarray | None = None


def _region_entry(region: Sequence[int] | str | np.ndarray | Tensor | None) -> tuple[Any, np.ndarray | None]:
    if region is None:
        return None, None
    if isinstance(region, str):
        return {"type": "name", "name": region}, None
    if isinstance(region, (np.ndarray, Tensor)):
        mask = np.asarray(region.detach().cpu() if isinstance(region, Tensor) else region)
        if mask.dtype != np.bool_ or mask.ndim != 2:
            raise ValueError(f"region mask must be a 2-D boolean array, got {mask.dtype} {mask.shape}")
        return {"type": "mask", "shape": list(mask.shape)}, mask
    return {"type": "box", "box": [int(v) for v in region]}, None


def save_directions(path: str | os.PathLike, directions: np.ndarray | Tensor, eigenvalues: np.ndarray | Tensor, *,
                    method: str, layers: Sequence[int] | None, region: Any = None, samples: int | None = None,
                    seed: int | None = None, resolution: int | None = None,
                    checkpoint: str | os.PathLike | None = None, checkpoint_sha256: str | None = None,
                    extra: dict[str, Any] | None = None) -> None:
    """Write directions and metadata to ``path`` (``.npz``, uncompressed).

    Args:
        path: Output file; written as given (no suffix added).
        directions: ``(K, d)``.
        eigenvalues: ``(K,)``.
        method: ``"sefa"`` or ``"resefa"``.
        layers: Layers the directions were computed for / are meant to edit (None: all).
        region: ReSeFa box ``[center_row, center_col, h, w]``, box name or boolean mask (stored as an array).
        samples: Number of latents used (ReSeFa).
        seed: Their seed.
        resolution: Resolution the region is given at.
        checkpoint: Generator checkpoint file to hash (sha256).
        checkpoint_sha256: Its hash, when already known (ignored when ``checkpoint`` is given).
        extra: Further JSON-serialisable metadata.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    directions = np.asarray(directions.detach().cpu() if isinstance(directions, Tensor) else directions, np.float64)
    eigenvalues = np.asarray(eigenvalues.detach().cpu() if isinstance(eigenvalues, Tensor) else eigenvalues,
                             np.float64)
    _check_arrays(directions, eigenvalues, str(path))
    region_meta, mask = _region_entry(region)
    if checkpoint is not None:
        checkpoint_sha256 = file_sha256(checkpoint)
    meta = {"format_version": FORMAT_VERSION, "method": method,
            "layers": None if layers is None else [int(v) for v in layers], "region": region_meta,
            "samples": samples, "seed": seed, "resolution": resolution, "checkpoint_sha256": checkpoint_sha256,
            "extra": extra or {}}
    arrays = {"directions": directions, "eigenvalues": eigenvalues, "metadata": np.array(json.dumps(meta))}
    if mask is not None:
        arrays["region_mask"] = mask
    with open(path, "wb") as f:  # a file handle: np.savez would append ".npz" to a bare name
        np.savez(f, **arrays)


def _check_arrays(directions: np.ndarray, eigenvalues: np.ndarray, where: str) -> None:
    if directions.ndim != 2 or directions.shape[0] < 1 or directions.shape[1] < 1:
        raise ValueError(f"{where}: 'directions' must be (K, d), got shape {directions.shape}")
    if eigenvalues.shape != (directions.shape[0],):
        raise ValueError(f"{where}: 'eigenvalues' must have shape ({directions.shape[0]},), got {eigenvalues.shape}")
    if not (np.isfinite(directions).all() and np.isfinite(eigenvalues).all()):
        raise ValueError(f"{where}: 'directions' and 'eigenvalues' must be finite")


def _get(data: Any, key: str, where: str) -> np.ndarray:
    if key not in data.files:
        raise ValueError(f"{where}: missing key {key!r} (found {sorted(data.files)})")
    try:
        return data[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # object arrays need pickle: refused
        raise ValueError(f"{where}: key {key!r} is not a plain array ({err})") from err


def _check_metadata(meta: Any, where: str) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: key 'metadata' must be a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"{where}: key 'metadata' lacks {missing}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{where}: key 'metadata' has format_version {meta['format_version']!r}, "
                         f"expected {FORMAT_VERSION}")
    if meta["method"] not in METHODS:
        raise ValueError(f"{where}: key 'metadata' has method {meta['method']!r}, expected one of {METHODS}")
    layers = meta["layers"]
    if layers is not None and (not isinstance(layers, list)
                               or not all(isinstance(v, int) and not isinstance(v, bool) for v in layers)):
        raise ValueError(f"{where}: key 'metadata' has layers {layers!r}, expected a list of ints or null")
    for key in ("samples", "seed", "resolution"):
        if meta[key] is not None and (not isinstance(meta[key], int) or isinstance(meta[key], bool)):
            raise ValueError(f"{where}: key 'metadata' has {key} {meta[key]!r}, expected an int or null")
    region = meta["region"]
    if region is not None and (not isinstance(region, dict) or region.get("type") not in ("box", "name", "mask")):
        raise ValueError(f"{where}: key 'metadata' has region {region!r}, expected null or a box/name/mask entry")
    sha = meta["checkpoint_sha256"]
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64
                            or any(c not in "0123456789abcdef" for c in sha)):
        raise ValueError(f"{where}: key 'metadata' has checkpoint_sha256 {sha!r}, expected 64 hex digits or null")
    return meta


def load_directions(path: str | os.PathLike) -> DirectionSet:
    """Read a file written by :func:`save_directions`; never unpickles.

    Args:
        path: The ``.npz`` file.

    Returns:
        A :class:`DirectionSet`.

    Raises:
        ValueError: Naming the file and the key for a file that is not such an archive, a missing or non-plain
            array, bad JSON or metadata, or inconsistent shapes.
    """
    where = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{where}: not a readable .npz archive ({err})") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: expected an .npz archive of directions, got a single array")
    with data:
        raw = _get(data, "metadata", where)
        if raw.dtype.kind != "U" or raw.shape != ():
            raise ValueError(f"{where}: key 'metadata' must be a JSON string, got {raw.dtype} {raw.shape}")
        try:
            meta = json.loads(str(raw))
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: key 'metadata' is not valid JSON ({err})") from err
        meta = _check_metadata(meta, where)
        directions, eigenvalues = _get(data, "directions", where), _get(data, "eigenvalues", where)
        for key, arr in (("directions", directions), ("eigenvalues", eigenvalues)):
            if arr.dtype.kind != "f":
                raise ValueError(f"{where}: key {key!r} must be floating point, got {arr.dtype}")
        directions, eigenvalues = directions.astype(np.float64), eigenvalues.astype(np.float64)
        _check_arrays(directions, eigenvalues, where)
        mask = None
        if "region_mask" in data.files:
            mask = _get(data, "region_mask", where)
            if mask.dtype != np.bool_ or mask.ndim != 2:
                raise ValueError(f"{where}: key 'region_mask' must be a 2-D bool array, got {mask.dtype} {mask.shape}")
        region = meta["region"]
        shape = None if mask is None else list(mask.shape)
        if region is not None and region["type"] == "mask" and shape != region.get("shape"):
            raise ValueError(f"{where}: key 'region_mask' is missing or does not match the metadata region {region!r}")
    return DirectionSet(directions, eigenvalues, meta, mask)
