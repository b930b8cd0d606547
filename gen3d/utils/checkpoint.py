"""Checkpoints are data: loading never unpickles code, saving never leaves a half-written file.

Importing this module does two things through mmengine's public extension points:

* the loader for local paths (scheme prefix ``''``) is replaced by :func:`load_local_checkpoint`, which calls
  ``torch.load(..., weights_only=True)`` and allow-lists only numpy arrays, dtypes and scalars (the message
  hub logs them; its ``HistoryBuffer`` objects are stored as tensors by ``CheckpointMetaHook``). A checkpoint
  whose pickle references any other global is refused with :class:`UnsafeCheckpointError`, naming the file
  and the offending globals.
* the file backend for local paths is replaced by :class:`AtomicLocalBackend`, which writes to a temporary
  file in the same directory, fsyncs it and renames it over the target (``os.replace`` is atomic on POSIX),
  so a process killed while writing leaves the previous checkpoint, and ``last_checkpoint``, intact.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader


class CheckpointError(ValueError):
    """A checkpoint the user named (or ``--resume`` found) cannot be used; the message names the file.

    Tools catch this one class to print a single ``error: ...`` line.
    """


class UnsafeCheckpointError(CheckpointError, RuntimeError):
    """A checkpoint file holds pickled objects outside the allow-list (it could run code when loaded)."""


class CorruptCheckpointError(CheckpointError, RuntimeError):
    """A checkpoint file cannot be read (truncated, not a torch file, or empty)."""


class ResumeError(CheckpointError):
    """A readable checkpoint that this run cannot resume from (another model type, or no training state)."""


def _numpy_safe_globals() -> list[Any]:
    """Numpy types that mmengine's message hub pickles (scalars and small arrays of logged values)."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 moved ``core`` to ``_core``
    names = [core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray, np.dtype]
    names += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return names


SAFE_GLOBALS: list[Any] = _numpy_safe_globals()
torch.serialization.add_safe_globals(SAFE_GLOBALS)


def load_local_checkpoint(filename: str | Path, map_location: Any = None, mmap: bool = False) -> dict:
    """Load a local checkpoint as data only (``weights_only=True``).

    Args:
        filename: Path to the ``.pth`` file.
        map_location: As in :func:`torch.load`.
        mmap: Map the tensors' storage instead of reading it (:func:`torch.load`'s ``mmap``): a cheap check that the
            file is complete, and a cheap read of its meta.

    Returns:
        The checkpoint dict (or whatever plain data the file holds).

    Raises:
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The pickle references globals outside :data:`SAFE_GLOBALS`.
        CorruptCheckpointError: The file is empty, truncated or not a torch checkpoint.
    """
    filename = str(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"Checkpoint file not found: {filename}")
    if osp.getsize(filename) == 0:
        raise CorruptCheckpointError(f"Checkpoint file is empty: {filename}")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        except Exception:  # noqa: BLE001 - cannot even list its globals: not a readable torch file
            unsafe = []
        if not unsafe and "Unsupported global" not in str(err):
            raise CorruptCheckpointError(f"Cannot read checkpoint {filename} (not a torch checkpoint): {err}") from None
        raise UnsafeCheckpointError(
            f"Refusing to load checkpoint {filename}: it holds pickled objects that could run code "
            f"(globals not allowed: {', '.join(unsafe) or 'see below'}). gen3d loads checkpoints with "
            f"weights_only=True. If you trust the file, re-save its tensors as a plain state dict.\n{err}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:  # OSError: a zip reader on a truncated file
        raise CorruptCheckpointError(
            f"Cannot read checkpoint {filename} (truncated or not a torch file): {err}"
        ) from err


CheckpointLoader.register_scheme(prefixes="", loader=load_local_checkpoint, force=True)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic writes (temp file + fsync + ``os.replace``)."""

    def put(self, obj: bytes, filepath: str | Path) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = "utf-8") -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write_bytes(obj.encode(encoding), filepath)


def atomic_write_bytes(data: bytes, filepath: str | Path) -> None:
    """Write ``data`` to ``filepath`` so that readers see either the old file or the complete new one.

    Args:
        data: The bytes to write.
        filepath: Destination path; its directory is created if missing.
    """
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{osp.basename(filepath)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


register_backend("local", AtomicLocalBackend, force=True, prefixes="")


CHECKPOINT_NAME = re.compile(r"(?:epoch|iter)_(\d+)\.pth")  # the names mmengine's CheckpointHook writes


def resumable_candidates(work_dir: str | Path) -> list[str]:
    """The checkpoints ``--resume`` (auto) may continue from, newest first (names only; the files are not read).

    First the file ``<work_dir>/last_checkpoint`` names (when it exists), then every ``epoch_N.pth`` / ``iter_N.pth``
    in ``work_dir`` by decreasing N.

    Args:
        work_dir: The run's work directory.

    Returns:
        Checkpoint paths, possibly empty.
    """
    work_dir = str(work_dir)
    out = []
    pointer = osp.join(work_dir, "last_checkpoint")
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            out.append(named)
    if osp.isdir(work_dir):
        numbered = [(int(m.group(1)), name) for name in os.listdir(work_dir) if (m := CHECKPOINT_NAME.fullmatch(name))]
        for _, name in sorted(numbered, reverse=True):
            path = osp.join(work_dir, name)
            if not any(osp.samefile(path, seen) for seen in out):
                out.append(path)
    return out


def find_resumable_checkpoint(work_dir: str | Path) -> str | None:
    """The checkpoint that ``--resume`` (auto) continues from, by name only (see :func:`pick_resumable_checkpoint`).

    mmengine's CheckpointHook names the newest checkpoint in ``<work_dir>/last_checkpoint``, which it rewrites in
    place (not atomically) after every save: a process killed then leaves it empty, and a checkpoint deleted by
    hand leaves it naming a missing file. In both cases, and when the file is absent, the ``epoch_N.pth`` /
    ``iter_N.pth`` with the largest N in ``work_dir`` is used instead.

    Args:
        work_dir: The run's work directory.

    Returns:
        A checkpoint path, or None when the work directory holds none.
    """
    candidates = resumable_candidates(work_dir)
    return candidates[0] if candidates else None


def pick_resumable_checkpoint(work_dir: str | Path, warn: Callable[[str], None] = print) -> tuple[str, dict] | None:
    """The newest readable checkpoint of :func:`resumable_candidates`, and its (memory-mapped) content.

    An unreadable candidate (truncated, empty, not a torch file) is skipped with a warning naming it.

    Args:
        work_dir: The run's work directory.
        warn: Called with the message for each skipped file.

    Returns:
        ``(path, checkpoint)``, or None when the work directory holds no checkpoint.

    Raises:
        CorruptCheckpointError: Every candidate is unreadable (each one is named).
        UnsafeCheckpointError: The newest readable candidate holds code-running pickles.
    """
    candidates, bad = resumable_candidates(work_dir), []
    for i, path in enumerate(candidates):
        try:
            return path, load_local_checkpoint(path, map_location="cpu", mmap=True)
        except CorruptCheckpointError as err:
            bad.append(str(err))
            then = f"trying the previous one, {candidates[i + 1]}" if i + 1 < len(candidates) else "none is left"
            warn(f"--resume: skipping {path}: {err}; {then}.")
    if bad:
        raise CorruptCheckpointError(f"--resume: no readable checkpoint in {work_dir}: " + "; ".join(bad))
    return None


def save_checkpoint_file(checkpoint: dict, filepath: str | Path) -> None:
    """Save a checkpoint dict atomically with :func:`torch.save`.

    Args:
        checkpoint: Plain data (state dicts, config text, meta).
        filepath: Destination ``.pth`` path.
    """
    import io

    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    atomic_write_bytes(buf.getvalue(), filepath)
