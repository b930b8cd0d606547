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
from gen3d.runtime.overlay import save_rgb
from gen3d.runtime.paths import safe_join
from gen3d.runtime.sources import IMAGE_EXTENSIONS, Frame, is_live, iter_frames
from gen3d.runtime.writers import AnnotatedVideo, OverlayNames, VerdictWriter, overlay_picture, verdict


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
               thresholds: dict[str, dict[str, float]] | None = None, verify_hashes: bool = True,
               **live: Any) -> dict[str, Any]:
    """Judge every frame of ``input`` with a bundle; write ``verdicts.csv`` (or ``.jsonl``) and overlays.

    Args:
        bundle_dir: Bundle folder (``manifest.json``, ``model.onnx``, optional ``model.engine``).
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where ``verdicts.csv``/``verdicts.jsonl`` and ``overlays/`` go.
        class_name: Product class of every frame (default: from the path, or the bundle's only class).
        backend: ``'auto'``, ``'onnxruntime'`` or ``'tensorrt'``.
        batch_size: Frames per backend call for files and folders.
        overlay: ``False`` writes no overlay (``save='none'``).
        jsonl: Write JSON lines instead of CSV.
        threads: CPU threads for onnxruntime.
        spin: onnxruntime thread spinning (``None``: the bundle's hint).
        log: Stream for warnings (failed frames), per-frame lines and the summary.
        thresholds: ``{class: {"image": t, "pixel": t}}`` replacing the bundle's stored defaults.
        verify_hashes: ``False`` (``--allow-modified-bundle``) runs a bundle that fails verification, with a
            warning (:func:`~gen3d.runtime.manifest.load_manifest`).
        **live: ``save``, ``video``, ``vid_stride``, ``frame_log`` of :func:`run_inspection`.

    Returns:
        See :func:`run_inspection`.

    Raises:
        ManifestError: Invalid bundle; RuntimeError: the backend cannot run here; and as :func:`run_inspection`.
    """
    runtime = AnomalyRuntime(bundle_dir, backend=backend, threads=threads, spin=spin, verify_hashes=verify_hashes)
    if thresholds:  # the line's own decision thresholds, without re-export
        runtime.set_thresholds(thresholds)
    return run_inspection(runtime, input, out_dir, class_name, batch_size, overlay, jsonl, log, **live)


SAVE_MODES = ("all", "defects", "none")


def run_inspection(predictor: Any, input: str, out_dir: str, class_name: str | None = None,  # noqa: A002
                   batch_size: int = 8, overlay: bool = True, jsonl: bool = False, log: Any = sys.stderr,
                   save: str | None = None, video: bool = False, vid_stride: int = 1,
                   frame_log: bool | None = None) -> dict[str, Any]:
    """The one inspection loop, for a bundle (:class:`AnomalyRuntime`) and a checkpoint alike.

    A frame that fails to decode, or whose class cannot be told, gets a row with the error and the run goes on.
    Live sources (camera index, URL) are read by a capture thread that keeps the newest frame and counts the
    dropped ones (:class:`~gen3d.runtime.sources.LatestFrameReader`), one frame per call so that each verdict comes
    out at once. Rows are flushed one by one (a killed run keeps every verdict so far); overlay names never collide
    (:class:`~gen3d.runtime.writers.OverlayNames`).

    Args:
        predictor: Has ``classes``, ``backend_name``, ``resolve_class(name)`` and ``predict(rgbs, class_names,
            sources) -> list[Result]`` with normalised scores (:class:`~gen3d.runtime.anomaly.Result`).
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where ``verdicts.csv``/``verdicts.jsonl``, ``overlays/`` and ``annotated.mp4`` go.
        class_name: Product class of every frame (default: from the path, or the only class).
        batch_size: Frames per call for files and folders.
        overlay: ``False`` is ``save='none'``.
        jsonl: Write JSON lines instead of CSV.
        log: Stream for warnings, per-frame lines and the summary.
        save: Overlay PNGs for ``'all'`` frames, only ``'defects'``, or ``'none'``; default ``'all'`` for files
            and folders, ``'defects'`` for videos and live sources.
        video: Also write ``annotated.mp4`` (every judged frame's overlay) at the source's frame rate.
        vid_stride: Videos and live sources: judge every ``vid_stride``-th frame.
        frame_log: One log line per frame (verdict, score, latency, dropped frames); default on for videos and
            live sources.

    Returns:
        ``{'verdicts', 'counts': {'GOOD', 'DEFECT', 'unknown', 'error'}, 'backend', 'frames', 'dropped',
        'latency_ms': {'mean', 'p95'}, 'video'}``.

    Raises:
        FileNotFoundError: The input does not exist (names it).
        ValueError: Unknown ``class_name`` (lists the known classes) or ``save`` mode.
        StreamStalled: A camera or stream stopped delivering (after writing everything before it).
    """
    if class_name is not None:
        class_name = predictor.resolve_class(class_name)
    stream = not osp.isdir(input) and not (osp.isfile(input) and input.lower().endswith(IMAGE_EXTENSIONS))
    save = "none" if not overlay else (save or ("defects" if stream else "all"))
    if save not in SAVE_MODES:
        raise ValueError(f"save must be one of {SAVE_MODES}, got {save!r}")
    frame_log = stream if frame_log is None else frame_log
    frames = iter_frames(input, vid_stride=vid_stride)
    first = next(frames, None)  # fail on a missing input before any file is written
    live = is_live(input) and not osp.exists(input)
    names = OverlayNames(input if osp.isdir(input) else None)
    size = 1 if live else max(1, int(batch_size))
    os.makedirs(out_dir, exist_ok=True)
    if save != "none":
        os.makedirs(osp.join(out_dir, "overlays"), exist_ok=True)
    path = osp.join(out_dir, "verdicts.jsonl" if jsonl else "verdicts.csv")
    counts = {"GOOD": 0, "DEFECT": 0, "unknown": 0, "error": 0}
    backend_name = getattr(predictor, "backend_name", type(predictor).__name__)
    movie = AnnotatedVideo(osp.join(out_dir, "annotated.mp4"), _fps(input)) if video else None
    latencies: list[float] = []
    dropped = 0

    def emit(result: Result, frame: Frame | None = None) -> None:
        writer.write(result)
        if result.error:
            counts["error"] += 1
            print(f"warning: {result.source}: {result.error}", file=log)
            return
        counts[verdict(result)] += 1
        if result.latency_ms is not None:
            latencies.append(result.latency_ms)
        if frame_log:
            extra = f"  dropped {frame.dropped}" if frame is not None and frame.dropped else ""
            print(f"{result.source}  {verdict(result)}  score {result.score:.3f}  "
                  f"{result.latency_ms or 0.0:.1f} ms{extra}", file=log)
        keep = save == "all" or (save == "defects" and result.label)
        if frame is not None and frame.rgb is not None and (keep or movie is not None):
            pic = overlay_picture(frame.rgb, result)
            if keep:
                save_rgb(safe_join(osp.join(out_dir, "overlays"), names(result.source)), pic)
            if movie is not None:
                movie.write(pic)

    def flush(batch: list[tuple[Frame, str]]) -> None:
        if not batch:
            return
        try:
            results = predictor.predict([f.rgb for f, _ in batch], [c for _, c in batch],
                                        [f.source for f, _ in batch])
        except (ValueError, RuntimeError) as err:  # a bad batch is reported, and the stream goes on
            results = [Result(f.source, c, error=f"inference failed: {err}") for f, c in batch]
        for (frame, _), result in zip(batch, results):
            emit(result, frame)
        batch.clear()

    batch: list[tuple[Frame, str]] = []
    with VerdictWriter(path, "jsonl" if jsonl else "csv") as writer:
        try:
            for frame in _chain(first, frames):
                dropped += frame.dropped
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
            if movie is not None:
                movie.close()
            summary = _summary(latencies)
            print(f"{sum(counts.values())} inputs ({backend_name}): {counts}; latency mean {summary['mean']:.1f} ms, "
                  f"p95 {summary['p95']:.1f} ms" + (f"; {dropped} frames dropped" if dropped else "")
                  + f"; verdicts in {path}" + (f", video in {movie.path}" if movie is not None else ""), file=log)
    return {"verdicts": path, "counts": counts, "backend": backend_name, "frames": sum(counts.values()),
            "dropped": dropped, "latency_ms": summary, "video": movie.path if movie is not None else None}


def _summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"mean": 0.0, "p95": 0.0}
    ordered = sorted(latencies)
    return {"mean": sum(ordered) / len(ordered), "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def _fps(source: str) -> float:
    """A video file's or camera's frame rate (10 where unknown)."""
    if osp.isdir(source) or (osp.isfile(source) and source.lower().endswith(IMAGE_EXTENSIONS)):
        return 10.0
    import cv2

    cap = cv2.VideoCapture(source) if osp.isfile(source) else None  # a camera is not opened twice
    fps = float(cap.get(cv2.CAP_PROP_FPS)) if cap is not None else 0.0
    if cap is not None:
        cap.release()
    return fps if fps > 0 else 10.0


def _chain(first: Frame | None, rest: Any) -> Any:
    if first is not None:
        yield first
    yield from rest
