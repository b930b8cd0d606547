"""Fast checks of the image and mask files of a dataset before training, shared by every dataset family.

A 0-byte file, a truncated image or a text file named ``.png`` used to be found only when a DataLoader worker
reached it (the first validation of the ``val`` split: epoch 10 of the UniAD schedule), as a worker traceback.
The datasets now check every file of their split once, when they are built (the Runner builds them before the
first iteration), and report all bad files in one :class:`BadFilesError`, or leave them out with
``bad_files='skip'`` (``tools/train.py --skip-bad-images``).

What is checked, per file, without decoding pixels:

* the file exists and is not empty;
* its first bytes are the magic number of an image format (PNG, JPEG, BMP, TIFF, WebP, GIF);
* PIL parses its header (:func:`PIL.Image.open` reads the header only) and the size is not 0;
* its end: the PNG ``IEND`` chunk, the JPEG end-of-image marker ``FF D9`` after the start of the scan, the
  GIF trailer, the BMP and WebP sizes written in the header and the TIFF strip / tile extents must fit in
  the file. Data appended after the end marker is allowed (the whole file is searched only when the last
  :data:`TAIL_BYTES` do not hold the marker).

Damage inside the compressed data (a flipped bit) is not found; the loading step's error names such a file.
"""

from __future__ import annotations

import os
import os.path as osp
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from PIL import Image

BAD_FILE_POLICIES = ("error", "skip", "off")
"""``bad_files`` dataset argument: raise :class:`BadFilesError`, leave the bad files out (logged), or no check."""

MAX_LISTED = 20
"""Bad files named in one message; the full list goes to a file when there are more."""

PROGRESS_MIN_FILES = 2000
"""A progress bar is shown (rank 0 only) when at least this many files are checked."""

TAIL_BYTES = 1024
"""Bytes read at the end of a file to find its end marker."""

PATH_KEYS = {"img_path": "image", "mask_path": "mask", "seg_map_path": "mask", "depth_path": "depth",
             "normal_path": "normal"}
"""Record keys that hold file paths, and how a bad file of each is named in messages."""

_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


class DatasetError(ValueError):
    """A problem with the data on disk that the user has to fix; its message names the path(s) and the remedy."""


class MissingDataError(DatasetError, FileNotFoundError):
    """Files or folders a dataset needs are absent (an empty data root, a class without images, a missing mask)."""


class BadFilesError(DatasetError):
    """Files of a dataset that cannot be images (empty, truncated, not an image); the message lists them."""


def _sniff(head: bytes) -> str | None:
    """Image format from the first bytes of a file, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _has_marker(f: IO[bytes], size: int, marker: bytes, start: int) -> bool:
    """Whether ``marker`` occurs in the file after byte ``start``: the tail first, then (rarely) the whole rest."""
    f.seek(max(start, size - TAIL_BYTES))
    if marker in f.read():
        return True
    if size - start <= TAIL_BYTES:
        return False
    f.seek(start)
    return marker in f.read()


def _size_problem(kind: str, head: bytes, size: int) -> str | None:
    """Why the file is shorter than the size its first bytes declare (BMP, WebP), or None."""
    if kind == "bmp":
        declared = int.from_bytes(head[2:6], "little")
        if declared and size < declared:
            return f"truncated BMP ({size} of {declared} bytes)"
    if kind == "webp":
        declared = int.from_bytes(head[4:8], "little") + 8
        if size < declared:
            return f"truncated WebP ({size} of {declared} bytes)"
    return None


def _end_problem(kind: str, f: IO[bytes], img: Image.Image, size: int) -> str | None:
    """Why the end of the file does not match its header (truncation), or None."""
    if kind == "png" and not _has_marker(f, size, _PNG_END, 8):
        return "truncated PNG (no IEND chunk)"
    if kind == "jpeg":
        start = max((t[2] for t in getattr(img, "tile", None) or []), default=2)  # start of the scan data
        if not _has_marker(f, size, _JPEG_END, start):
            return "truncated JPEG (no end-of-image marker FF D9)"
    if kind == "gif":
        f.seek(size - 1)
        if f.read(1) != b";":
            return "truncated GIF (no trailer)"
    if kind == "tiff":
        tags = getattr(img, "tag_v2", {})
        for off_tag, len_tag in ((273, 279), (324, 325)):  # strips, tiles
            offsets, lengths = tags.get(off_tag), tags.get(len_tag)
            if offsets is not None and lengths is not None:
                offsets = offsets if isinstance(offsets, tuple) else (offsets,)
                lengths = lengths if isinstance(lengths, tuple) else (lengths,)
                end = max((o + n for o, n in zip(offsets, lengths)), default=0)
                if end > size:
                    return f"truncated TIFF (image data ends at byte {end}, file has {size})"
    return None


def check_image_file(path: str) -> str | None:
    """Why ``path`` is not a readable image, or None when it looks fine (header and end checked, no decoding).

    Args:
        path: Image or mask file.

    Returns:
        A short reason (``'empty file (0 bytes)'``, ``'truncated PNG (no IEND chunk)'``, ...) or None.
    """
    try:
        if not osp.isfile(path):
            return "missing" if not osp.exists(path) else "not a regular file"
        size = os.stat(path).st_size
        if size == 0:
            return "empty file (0 bytes)"
        with open(path, "rb") as f:
            head = f.read(32)
            kind = _sniff(head)
            if kind is None:
                return f"not an image file (starts with {head[:12]!r})"
            problem = _size_problem(kind, head, size)
            if problem:
                return problem
            f.seek(0)
            try:
                with Image.open(f) as img:
                    width, height = img.size
                    problem = _end_problem(kind, f, img, size)
            except Image.DecompressionBombError:
                return None  # very large but well-formed; the loader (OpenCV) has no such limit
            except Exception as err:  # noqa: BLE001 - any parse failure of a damaged header is the answer
                return f"unreadable {kind.upper()} header ({type(err).__name__}: {err})"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if width <= 0 or height <= 0:
        return f"{kind.upper()} header gives an empty size {width}x{height}"
    return problem


def _rank() -> int:
    from mmengine.dist import get_rank

    return get_rank()


def check_files(paths: Iterable[str], desc: str = "checking files", progress: bool | None = None) -> dict[str, str]:
    """Check each distinct path once with :func:`check_image_file`.

    Args:
        paths: Files to check (duplicates are checked once).
        desc: Label of the progress bar.
        progress: Show a tqdm bar; None shows it on rank 0 when there are :data:`PROGRESS_MIN_FILES` or more.

    Returns:
        ``{path: reason}`` of the bad files, in the order given.
    """
    unique = list(dict.fromkeys(paths))
    if progress is None:
        progress = len(unique) >= PROGRESS_MIN_FILES and _rank() == 0
    items: Iterable[str] = unique
    if progress:
        from tqdm import tqdm

        items = tqdm(unique, desc=desc, unit="file", mininterval=1.0, leave=False)
    bad: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's EXIF / decompression-bomb warnings
        for path in items:
            reason = check_image_file(path)
            if reason is not None:
                bad[path] = reason
    return bad


def _full_list_file(lines: Sequence[str], name: str) -> str:
    """Write all bad-file lines next to the run's log (or into the temp folder) and return the path."""
    from mmengine.logging import MMLogger

    log_file = MMLogger.get_current_instance().log_file  # <work_dir>/<timestamp>/<timestamp>.log under a Runner
    folder = osp.dirname(log_file) if log_file else tempfile.gettempdir()
    path = osp.join(folder, f"bad_files_{name}.txt")
    if _rank() == 0:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        except OSError:
            return ""
    return path


def check_bad_files_policy(policy: str) -> str:
    """Return ``policy`` if it is one of :data:`BAD_FILE_POLICIES` (what every dataset's ``bad_files`` takes).

    Raises:
        ValueError: Another value, naming the choices.
    """
    if policy not in BAD_FILE_POLICIES:
        raise ValueError(f"bad_files must be one of {BAD_FILE_POLICIES}, got {policy!r}")
    return policy


def check_records(
    records: Sequence[Mapping[str, Any]],
    policy: str,
    where: str,
    name: str = "dataset",
    keys: Sequence[str] = tuple(PATH_KEYS),
    progress: bool | None = None,
) -> set[str]:
    """Check the files of ``records``; raise or log all bad ones in one message (see :data:`BAD_FILE_POLICIES`).

    Args:
        records: Dataset records; ``record[key]`` for ``key`` in ``keys`` is a path or None (not checked).
        policy: ``'error'``, ``'skip'`` or ``'off'``.
        where: What the records are, for the message (``'the train split of MVTecDataset under /data'``).
        name: Short name for the file with the full list (``bad_files_<name>.txt``).
        keys: Record keys holding paths.
        progress: See :func:`check_files`.

    Returns:
        The bad paths (empty with ``'off'``); with ``'skip'`` the caller drops their records
        (:func:`drop_bad_records`).

    Raises:
        BadFilesError: ``policy='error'`` and some file is bad; lists up to :data:`MAX_LISTED` with reasons.
    """
    if check_bad_files_policy(policy) == "off":
        return set()
    kind_of = {}
    for rec in records:
        for key in keys:
            if rec.get(key):
                kind_of.setdefault(str(rec[key]), PATH_KEYS.get(key, "file"))
    bad = check_files(kind_of, desc=f"checking {name} files", progress=progress)
    if not bad:
        return set()
    lines = [f"cannot read {kind_of[p]} file {p}: {reason}" for p, reason in bad.items()]
    listed = "\n  ".join(lines[:MAX_LISTED])
    if len(lines) > MAX_LISTED:
        full = _full_list_file(lines, name)
        listed += f"\n  ... and {len(lines) - MAX_LISTED} more" + (f" (all listed in {full})" if full else "")
    head = f"{len(bad)} bad file(s) out of {len(kind_of)} in {where} (header / end check, no decoding):\n  {listed}"
    if policy == "error":
        raise BadFilesError(
            f"{head}\nFix or remove them, or leave them out with bad_files='skip' in the dataset config "
            "(tools/train.py --skip-bad-images; --cfg-options <loader>.dataset.bad_files=skip)."
        )
    from mmengine.logging import print_log

    print_log(f"skipping {head}", logger="current", level=30)
    return set(bad)


def drop_bad_records(records: Iterable[dict], bad: set[str], keys: Sequence[str] = tuple(PATH_KEYS)) -> list[dict]:
    """``records`` without those naming a path in ``bad`` under one of ``keys``."""
    records = list(records)
    if not bad:
        return records
    return [r for r in records if not any(r.get(k) and str(r[k]) in bad for k in keys)]


def supports_bad_files(dataset_cls: Callable) -> bool:
    """Whether a dataset class (or a base class of it) takes the ``bad_files`` argument."""
    import inspect

    for cls in getattr(dataset_cls, "__mro__", (dataset_cls,)):
        init = cls.__dict__.get("__init__") if isinstance(cls, type) else cls
        if init is None:
            continue
        try:
            if "bad_files" in inspect.signature(init).parameters:
                return True
        except (TypeError, ValueError):
            continue
    return False
