"""Row files (CSV or JSONL, flushed per row so a killed run loses nothing) and overlay pictures (no torch).

Anomaly verdicts: :data:`COLUMNS` (:func:`result_row`). Segmentation: :func:`seg_columns` (:func:`seg_row`): path,
error, latency, the label-map PNG, then every class's pixel fraction (``area_<class>``) and count
(``pixels_<class>``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import os.path as osp
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

from gen3d.runtime.anomaly import Result
from gen3d.runtime.overlay import draw_overlay, save_rgb
from gen3d.runtime.paths import safe_component

COLUMNS = ("path", "class", "score", "label", "error", "latency_ms")
SEG_COLUMNS = ("path", "error", "latency_ms", "label_map")  # then area_<class>..., pixels_<class>...
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection": cells a spreadsheet would evaluate


def verdict(result: Result) -> str:
    """``'DEFECT'``, ``'GOOD'``, ``'unknown'`` (no threshold) or ``''`` (the frame failed)."""
    if result.error:
        return ""
    return "unknown" if result.label is None else ("DEFECT" if result.label else "GOOD")


def _num(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else float(f"{value:.{digits}g}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def csv_cell(value: Any) -> Any:
    """A value made safe for a spreadsheet: a string that starts with ``= + - @``, tab or CR gets a leading ``'``.

    Numbers (``-0.5`` as a float or as the string ``'-0.5'``) stay numbers; ``None`` becomes ``''``.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _is_number(value):
        return "'" + value
    return value


def csv_row(values: Any) -> list[Any]:
    """:func:`csv_cell` of every value (for any CSV writer: verdicts, metric curves)."""
    return [csv_cell(v) for v in values]


def result_row(result: Result) -> dict[str, Any]:
    """One verdict as a flat dict with the keys of :data:`COLUMNS` (``None`` where there is no value)."""
    return {"path": result.source, "class": result.class_name, "score": _num(result.score),
            "label": verdict(result) or None, "error": result.error,
            "latency_ms": _num(result.latency_ms, 4)}


def seg_class_keys(class_names: Sequence[str]) -> list[str]:
    """The column suffix of each class: its name, or ``<k>`` for every class when names repeat or are empty."""
    names = [str(n) for n in class_names]
    return names if len(set(names)) == len(names) and all(names) else [str(k) for k in range(len(names))]


def seg_columns(class_names: Sequence[str]) -> tuple[str, ...]:
    """Segmentation row columns: :data:`SEG_COLUMNS`, ``area_<class>`` (pixel fraction) and ``pixels_<class>``."""
    keys = seg_class_keys(class_names)
    return (*SEG_COLUMNS, *(f"area_{k}" for k in keys), *(f"pixels_{k}" for k in keys))


def seg_row(result: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """One :class:`~gen3d.runtime.segmentation.SegResult` as a flat dict with the keys of :func:`seg_columns`."""
    keys = seg_class_keys(class_names)
    row: dict[str, Any] = {"path": result.source, "error": result.error, "latency_ms": _num(result.latency_ms, 4),
                           "label_map": result.label_map_path}
    fractions = result.fractions
    for k, key in enumerate(keys):
        ok = fractions is not None and k < len(fractions)
        row[f"area_{key}"] = _num(float(fractions[k])) if ok else None
        row[f"pixels_{key}"] = int(result.counts[k]) if ok else None
    return row


class VerdictWriter:
    """Append rows to ``verdicts.csv`` or ``verdicts.jsonl`` (or any file), one flushed row per result.

    Args:
        path: Output file (its folder is created); truncated when opened.
        fmt: ``'csv'`` or ``'jsonl'``; default from the file extension.
        columns: The CSV header and the keys of every row (default: the anomaly :data:`COLUMNS`).
        row: ``result -> dict`` with those keys (default: :func:`result_row`).
    """

    def __init__(self, path: str, fmt: str | None = None, columns: Sequence[str] = COLUMNS,
                 row: Callable[[Any], dict[str, Any]] = result_row) -> None:
        self.path = path
        self.columns, self._row = tuple(columns), row
        self.fmt = fmt or ("jsonl" if path.endswith((".jsonl", ".json")) else "csv")
        if self.fmt not in ("csv", "jsonl"):
            raise ValueError(f"unknown verdict format {self.fmt!r}; use 'csv' or 'jsonl'")
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self._file: IO[str] = open(path, "w", newline="" if self.fmt == "csv" else None)  # noqa: SIM115
        self._csv = csv.writer(self._file) if self.fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(csv_row(self.columns))
            self._file.flush()

    def write(self, result: Any) -> None:
        """Write one result and flush it to the OS."""
        row = self._row(result)
        if self._csv is not None:
            self._csv.writerow(csv_row(row[k] for k in self.columns))
        else:
            self._file.write(json.dumps(row, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> VerdictWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def overlay_name(source: str, root: str | None = None) -> str:
    """A flat ``.png`` name for the overlay of ``source`` (see :class:`OverlayNames` for names that never collide).

    Files under a folder ``root`` keep their relative path (``good/000.png`` -> ``good__000.png``); video and
    camera frames (``<source>#<index>``, only when the part after the last ``#`` is a number and the part before it
    is not an image file) get their index; a file named ``lot#1.png`` keeps its whole name. The stem is a
    :func:`~gen3d.runtime.paths.safe_component` (file names are data: they never lead out of the overlay folder).
    """
    base, sep, index = source.rpartition("#")
    if not (sep and index.isdigit() and not osp.isfile(source)):
        base, index = source, ""
    rel = osp.relpath(base, root) if root and not index else osp.basename(base.rstrip("/")) or "stream"
    stem = osp.splitext(rel)[0]
    stem = safe_component(stem.replace(os.sep, "__").replace("/", "__").replace(":", "_"))
    return f"{stem}_{int(index):06d}.png" if index else f"{stem}.png"


class OverlayNames:
    """Overlay file names unique within one run: :func:`overlay_name`, then ``_2``, ``_3`` ... on a clash.

    Flattening can make two inputs share a name (``good__000.png`` next to ``good/000.png``, two cameras' frame 5,
    the same file name in two folders when no root is known); a clash never overwrites an earlier overlay.

    Args:
        root: The input folder, if the input is one.
    """

    def __init__(self, root: str | None = None) -> None:
        self.root = root
        self._used: set[str] = set()

    def __call__(self, source: str) -> str:
        """The name for ``source``'s overlay (each call reserves a new one)."""
        name = overlay_name(source, self.root)
        stem, k = name[:-4], 1
        while name in self._used:
            k += 1
            name = f"{stem}_{k}.png"
        self._used.add(name)
        return name


def overlay_picture(rgb: np.ndarray, result: Result) -> np.ndarray:
    """Image | heatmap overlay with the predicted contour and the verdict (see :func:`draw_overlay`).

    Args:
        rgb: ``(H, W, 3)`` uint8 frame as read (the map and mask are resized to it).
        result: Its verdict, with ``anomaly_map``.

    Returns:
        ``(H, 2W, 3)`` uint8 RGB picture.
    """
    label = None if result.label is None else int(result.label)
    return draw_overlay(rgb, result.anomaly_map, result.score if result.score is not None else float("nan"), label,
                        result.pred_mask, None, result.map_threshold, result.class_name or "")


def write_overlay(path: str, rgb: np.ndarray, result: Result) -> None:
    """Save :func:`overlay_picture` of ``result`` as ``path`` (``.png``)."""
    save_rgb(path, overlay_picture(rgb, result))


class AnnotatedVideo:
    """An MP4 of the annotated frames (``mp4v``), opened at the first frame's size; later frames are resized to it.

    Args:
        path: ``.mp4`` file to write.
        fps: Frames per second (the source's, where known).
    """

    def __init__(self, path: str, fps: float = 10.0) -> None:
        self.path, self.fps = path, float(fps) if fps and fps > 0 else 10.0
        self._writer: Any = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB picture."""
        import cv2

        if self._writer is None:
            self.size = (int(rgb.shape[1]), int(rgb.shape[0]))
            self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self._writer.isOpened():
                raise OSError(f"cannot open {self.path} for writing (OpenCV without an MP4 encoder?)")
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
