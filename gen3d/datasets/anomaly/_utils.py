"""File-system helpers shared by the anomaly dataset layouts (listing images, matching masks, seeded splits)."""

import os.path as osp
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""Image file extensions every layout accepts, compared case-insensitively."""

MASK_SUFFIXES = ("_mask", "")
"""Stem suffixes tried, in order, when looking for the mask of ``<stem>.<ext>``."""


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has an image extension (case-insensitive) and is not a hidden file."""
    name = osp.basename(str(path))
    return not name.startswith(".") and osp.splitext(name)[1].lower() in IMG_EXTENSIONS


def list_images(folder: str | Path) -> list[str]:
    """Image files directly inside ``folder`` (not recursive), sorted by name; ``[]`` if it does not exist.

    Args:
        folder: Directory to list.

    Returns:
        Paths as strings, ``folder`` joined with each file name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and is_image_file(p))


def list_subdirs(folder: str | Path, exclude: Sequence[str] = ()) -> list[str]:
    """Names of the non-hidden sub-directories of ``folder`` minus ``exclude``, sorted; ``[]`` if it does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = (p.name for p in folder.iterdir() if p.is_dir())
    return sorted(n for n in names if not n.startswith(".") and n not in exclude)


class MaskIndex:
    """Finds the mask file of an image inside one mask folder.

    For an image ``<stem>.<ext>`` the mask is the first existing ``<mask_dir>/<stem><suffix>.<mext>`` over
    ``suffixes`` (default ``'_mask'`` then ``''``), ``<mext>`` being any image extension (case-insensitive).
    The folder is listed once, at construction.

    Args:
        mask_dir: Folder holding the masks; may not exist (then nothing is found).
        suffixes: Stem suffixes tried in order.
    """

    def __init__(self, mask_dir: str | Path, suffixes: Sequence[str] = MASK_SUFFIXES) -> None:
        self.mask_dir = str(mask_dir)
        self.suffixes = tuple(suffixes)
        self._by_stem: dict[str, str] = {}
        for path in list_images(mask_dir):
            self._by_stem.setdefault(osp.splitext(osp.basename(path))[0], path)

    def find(self, img_path: str) -> str | None:
        """The mask path of ``img_path``, or ``None`` when there is none."""
        stem = osp.splitext(osp.basename(img_path))[0]
        for suffix in self.suffixes:
            if stem + suffix in self._by_stem:
                return self._by_stem[stem + suffix]
        return None

    def expected(self, img_path: str) -> str:
        """The first path :meth:`find` tries, for error messages."""
        stem = osp.splitext(osp.basename(img_path))[0]
        return osp.join(self.mask_dir, f"{stem}{self.suffixes[0]}.png")


def seeded_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (strings hashed with CRC-32, stable across runs)."""
    words = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(words)


def holdout_count(n: int, ratio: float) -> int:
    """How many of ``n`` items to hold out for a ``ratio`` split.

    ``round(n * ratio)``, but at least 1 when ``ratio > 0`` and ``n >= 2``, and never all ``n`` items.
    """
    if ratio <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * ratio)))


def split_holdout(items: Sequence, ratio: float, rng: np.random.Generator) -> tuple[list, list]:
    """Split ``items`` into (kept, held out), both in their original order; sizes from :func:`holdout_count`."""
    n_out = holdout_count(len(items), ratio)
    out_idx = set(rng.permutation(len(items))[:n_out].tolist())
    kept = [x for i, x in enumerate(items) if i not in out_idx]
    held = [x for i, x in enumerate(items) if i in out_idx]
    return kept, held
