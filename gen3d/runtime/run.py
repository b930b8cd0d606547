"""The inspection loop: verdicts and overlays for every frame of an input, the library side of ``tools/infer.py``.

One loop (:func:`run_inspection`) for bundles (:func:`run_bundle`) and checkpoints
(:class:`gen3d.apis.inference.CheckpointPredictor`).

No torch: numpy, OpenCV and onnxruntime (or TensorRT) only.
"""

from __future__ import annotations

import os
import os.path as osp
import sys
from collections.abc import Sequence
from typing import Any

from gen3d.runtime.anomaly import AnomalyRuntime, Result
from gen3d.runtime.manifest import MANIFEST_FILE
from gen3d.runtime.paths import safe_join
from gen3d.runtime.sources import Frame, is_live, iter_frames
from gen3d.runtime.writers import OverlayNames, VerdictWriter, verdict, write_overlay


def is_bundle(path: str) -> bool:
    """Whether ``path`` is a bundle folder (it holds ``manifest.json``)."""
    return osp.isdir(path) and osp.isfile(osp.join(path, MANIFEST_FILE))


def guess_class(path: str, classes: Sequence[str]) -> str | None:
    """The class of an input from its path (exactly one folder named like a known class), or the only class."""
    if len(classes) == 1:
        return classes[0]
    parts = set(osp.normpath(path.partition("#")[0]).split(os.sep))
    found = [c for c in classes if c in parts]
    return found[0] if len(found) == 1 else None


def run_bundle(bundle_dir: str, input: str, out_dir: str, class_name: str | None = None,  # noqa: A002
               backend: str = "auto", batch_size: int = 8, overlay: bool = True, jsonl: bool = False,
               threads: int | None = None, log: Any = sys.stderr, spin: bool | None = None,
               thresholds: dict[str, dict[str, float]] | None = None, verify_hashes: bool = True) -> dict[str, Any]:
    """Judge every frame of ``input`` with a bundle; write ``verdicts.csv`` (or ``.jsonl``) and overlays.

    Args:
        bundle_dir: Bundle folder (``manifest.json``, ``model.onnx``, optional ``model.engine``).
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where ``verdicts.csv``/``verdicts.jsonl`` and ``overlays/`` go.
        class_name: Product class of every frame (default: from the path, or the bundle's only class).
        backend: ``'auto'``, ``'onnxruntime'`` or ``'tensorrt'``.
        batch_size: Frames per backend call for files and folders.
        overlay: Write one overlay picture per judged frame.
        jsonl: Write JSON lines instead of CSV.
        threads: CPU threads for onnxruntime.
        spin: onnxruntime thread spinning (``None``: the bundle's hint).
        log: Stream for warnings (failed frames) and the summary line.
        thresholds: ``{class: {"image": t, "pixel": t}}`` replacing the bundle's stored defaults.
        verify_hashes: ``False`` (``--allow-modified-bundle``) runs a bundle that fails verification, with a
            warning (:func:`~gen3d.runtime.manifest.load_manifest`).

    Returns:
        See :func:`run_inspection`.

    Raises:
        ManifestError: Invalid bundle; RuntimeError: the backend cannot run here; and as :func:`run_inspection`.
    """
    runtime = AnomalyRuntime(bundle_dir, backend=backend, threads=threads, spin=spin, verify_hashes=verify_hashes)
    if thresholds:  # the line's own decision thresholds, without re-export
        runtime.set_thresholds(thresholds)
    return run_inspection(runtime, input, out_dir, class_name, batch_size, overlay, jsonl, log)


def run_inspection(predictor: Any, input: str, out_dir: str, class_name: str | None = None,  # noqa: A002
                   batch_size: int = 8, overlay: bool = True, jsonl: bool = False,
                   log: Any = sys.stderr) -> dict[str, Any]:
    """The one inspection loop, for a bundle (:class:`AnomalyRuntime`) and a checkpoint alike.

    A frame that fails to decode, or whose class cannot be told, gets a row with the error and the run goes on.
    Live sources (camera index, URL) run one frame at a time so that each verdict comes out at once. Rows are
    flushed one by one (a killed run keeps every verdict so far); overlay names never collide
    (:class:`~gen3d.runtime.writers.OverlayNames`).

    Args:
        predictor: Has ``classes``, ``backend_name``, ``resolve_class(name)`` and ``predict(rgbs, class_names,
            sources) -> list[Result]`` with normalised scores (:class:`~gen3d.runtime.anomaly.Result`).
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where ``verdicts.csv``/``verdicts.jsonl`` and ``overlays/`` go.
        class_name: Product class of every frame (default: from the path, or the only class).
        batch_size: Frames per call for files and folders.
        overlay: Write one overlay picture per judged frame.
        jsonl: Write JSON lines instead of CSV.
        log: Stream for warnings (failed frames) and the summary line.

    Returns:
        ``{'verdicts': path, 'counts': {'GOOD', 'DEFECT', 'unknown', 'error'}, 'backend': name}``.

    Raises:
        FileNotFoundError: The input does not exist (names it).
        ValueError: Unknown ``class_name`` (lists the known classes).
        StreamStalled: A camera or stream stopped delivering (after writing everything before it).
    """
    if class_name is not None:
        class_name = predictor.resolve_class(class_name)
    frames = iter_frames(input)
    first = next(frames, None)  # fail on a missing input before any file is written
    live = is_live(input) and not osp.exists(input)
    names = OverlayNames(input if osp.isdir(input) else None)
    size = 1 if live else max(1, int(batch_size))
    os.makedirs(out_dir, exist_ok=True)
    if overlay:
        os.makedirs(osp.join(out_dir, "overlays"), exist_ok=True)
    path = osp.join(out_dir, "verdicts.jsonl" if jsonl else "verdicts.csv")
    counts = {"GOOD": 0, "DEFECT": 0, "unknown": 0, "error": 0}
    backend_name = getattr(predictor, "backend_name", type(predictor).__name__)

    def emit(result: Result, rgb: Any = None) -> None:
        writer.write(result)
        if result.error:
            counts["error"] += 1
            print(f"warning: {result.source}: {result.error}", file=log)
            return
        counts[verdict(result)] += 1
        if overlay and rgb is not None:
            write_overlay(safe_join(osp.join(out_dir, "overlays"), names(result.source)), rgb, result)

    def flush(batch: list[tuple[Frame, str]]) -> None:
        if not batch:
            return
        try:
            results = predictor.predict([f.rgb for f, _ in batch], [c for _, c in batch],
                                        [f.source for f, _ in batch])
        except (ValueError, RuntimeError) as err:  # a bad batch is reported, and the stream goes on
            results = [Result(f.source, c, error=f"inference failed: {err}") for f, c in batch]
        for (frame, _), result in zip(batch, results):
            emit(result, frame.rgb)
        batch.clear()

    batch: list[tuple[Frame, str]] = []
    with VerdictWriter(path, "jsonl" if jsonl else "csv") as writer:
        try:
            for frame in _chain(first, frames):
                cls_name = class_name or guess_class(frame.source, predictor.classes)
                if frame.rgb is None:
                    emit(Result(frame.source, cls_name, error=frame.error or "frame could not be decoded"))
                elif cls_name is None and predictor.classes:
                    emit(Result(frame.source, None, error=f"cannot tell the product class from the path; pass "
                                                          f"--class-name (known: {predictor.classes})"))
                else:
                    batch.append((frame, cls_name))
                    if len(batch) >= size:
                        flush(batch)
        finally:
            flush(batch)
            print(f"{sum(counts.values())} inputs ({backend_name}): {counts}; verdicts in {path}", file=log)
    return {"verdicts": path, "counts": counts, "backend": backend_name}


def _chain(first: Frame | None, rest: Any) -> Any:
    if first is not None:
        yield first
    yield from rest
