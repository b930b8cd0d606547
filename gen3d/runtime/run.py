"""The inspection loop: rows and overlays for every frame of an input, the library side of ``tools/infer.py``.

One loop (:func:`run_inspection`) for bundles (:func:`run_bundle`, the runtime picked by the manifest's task) and
checkpoints (:class:`gen3d.apis.inference.CheckpointPredictor`, :class:`gen3d.apis.seg_inference.
SegCheckpointPredictor`); anomaly verdicts and segmentation label maps through the same sources and writers.

No torch: numpy, OpenCV and onnxruntime (or TensorRT) only.
"""

from __future__ import annotations

import os
import os.path as osp
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gen3d.runtime.anomaly import AnomalyRuntime, Result
from gen3d.runtime.manifest import MANIFEST_FILE, read_manifest
from gen3d.runtime.overlay import save_rgb
from gen3d.runtime.paths import safe_join
from gen3d.runtime.segmentation import SegResult, write_label_map
from gen3d.runtime.sources import IMAGE_EXTENSIONS, Frame, is_live, iter_frames
from gen3d.runtime.writers import (
    COLUMNS,
    AnnotatedVideo,
    OverlayNames,
    VerdictWriter,
    overlay_picture,
    result_row,
    seg_columns,
    seg_row,
    verdict,
)


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


def bundle_task(bundle_dir: str) -> str:
    """The ``task`` of a bundle's manifest (read and validated, hashes not checked: the runtime checks them).

    Raises:
        ManifestError: Missing or invalid manifest.
    """
    return read_manifest(bundle_dir)["task"]


def run_bundle(bundle_dir: str, input: str, out_dir: str, class_name: str | None = None,  # noqa: A002
               backend: str = "auto", batch_size: int = 8, overlay: bool = True, jsonl: bool = False,
               threads: int | None = None, log: Any = sys.stderr, spin: bool | int | None = None,
               thresholds: dict[str, dict[str, float]] | None = None, verify_hashes: bool = True,
               **live: Any) -> dict[str, Any]:
    """Run a bundle on every frame of ``input``: anomaly verdicts, or segmentation label maps, areas and overlays.

    The runtime follows the manifest's ``task``: :class:`AnomalyRuntime` (``verdicts.csv``) or
    :class:`~gen3d.runtime.segmentation.SegmentationRuntime` (``segmentation.csv`` and ``label_maps/``), through
    the one loop :func:`run_inspection`. Generator bundles take no input (see
    :func:`gen3d.runtime.generation.run_generation`).

    Args:
        bundle_dir: Bundle folder (``manifest.json``, ``model.onnx``, optional ``model.engine``).
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where the rows file, ``overlays/`` (and ``label_maps/``) go.
        class_name: Product class of every frame (anomaly only; default: from the path, or the bundle's only class).
        backend: ``'auto'``, ``'onnxruntime'`` or ``'tensorrt'``.
        batch_size: Frames per backend call for files and folders.
        overlay: ``False`` writes no overlay (``save='none'``).
        jsonl: Write JSON lines instead of CSV.
        threads: CPU threads for onnxruntime.
        spin: onnxruntime thread spinning (``None``: the bundle's hint).
        log: Stream for warnings (failed frames), per-frame lines and the summary.
        thresholds: ``{class: {"image": t, "pixel": t}}`` replacing the bundle's stored defaults (anomaly only).
        verify_hashes: ``False`` (``--allow-modified-bundle``) runs a bundle that fails verification, with a
            warning (:func:`~gen3d.runtime.manifest.load_manifest`).
        **live: ``save``, ``video``, ``vid_stride``, ``frame_log`` of :func:`run_inspection`.

    Returns:
        See :func:`run_inspection`.

    Raises:
        ManifestError: Invalid bundle; ValueError: a generator bundle, or an option of another task;
        RuntimeError: the backend cannot run here; and as :func:`run_inspection`.
    """
    task = bundle_task(bundle_dir)
    if task == "generation":
        raise ValueError(f"{bundle_dir} is a generator bundle: it takes no input; sample it with "
                         "`python -m gen3d.runtime BUNDLE --seeds 0-15 --out-dir DIR`")
    runtime: Any
    if task == "segmentation":
        if thresholds:
            raise ValueError("--thresholds is for anomaly bundles; a segmentation bundle has no decision threshold")
        from gen3d.runtime.segmentation import SegmentationRuntime

        runtime = SegmentationRuntime(bundle_dir, backend=backend, threads=threads, spin=spin,
                                      verify_hashes=verify_hashes)
    else:
        runtime = AnomalyRuntime(bundle_dir, backend=backend, threads=threads, spin=spin,
                                 verify_hashes=verify_hashes)
        if thresholds:  # the line's own decision thresholds, without re-export
            runtime.set_thresholds(thresholds)
    return run_inspection(runtime, input, out_dir, class_name, batch_size, overlay, jsonl, log, **live)


SAVE_MODES = ("all", "defects", "none")
ROW_FILES = {"anomaly": "verdicts", "segmentation": "segmentation"}


def run_inspection(predictor: Any, input: str, out_dir: str, class_name: str | None = None,  # noqa: A002
                   batch_size: int = 8, overlay: bool = True, jsonl: bool = False, log: Any = sys.stderr,
                   save: str | None = None, video: bool = False, vid_stride: int = 1,
                   frame_log: bool | None = None) -> dict[str, Any]:
    """The one inspection loop, for bundles and checkpoints, anomaly detectors and segmentors alike.

    A frame that fails to decode, or whose class cannot be told, gets a row with the error and the run goes on.
    Live sources (camera index, URL) are read by a capture thread that keeps the newest frame and counts the
    dropped ones (:class:`~gen3d.runtime.sources.LatestFrameReader`), one frame per call so that each row comes
    out at once. Rows are flushed one by one (a killed run keeps every row so far); overlay names never collide
    (:class:`~gen3d.runtime.writers.OverlayNames`).

    A predictor whose ``task`` is ``'segmentation'`` (:class:`~gen3d.runtime.segmentation.SegmentationRuntime`,
    :class:`gen3d.apis.seg_inference.SegCheckpointPredictor`) writes ``segmentation.csv`` (:func:`~gen3d.runtime.
    writers.seg_columns`: path, error, latency, label-map PNG, per-class pixel fraction and count), one uint8 /
    uint16 label-map PNG per frame under ``label_maps/`` (always) and palette overlays under ``overlays/`` (the same
    file name); it takes no product class, and saves ``'all'`` or ``'none'`` overlays (default ``'all'``).

    Args:
        predictor: Has ``classes``, ``backend_name``, ``resolve_class(name)`` and ``predict(rgbs, class_names,
            sources)``: a list of :class:`~gen3d.runtime.anomaly.Result` with normalised scores, or (``task ==
            'segmentation'``) of :class:`~gen3d.runtime.segmentation.SegResult`, with ``overlay(rgb, result)``.
        input: Image file, folder, video file, camera index (``'0'``) or stream URL.
        out_dir: Where the rows file, ``overlays/``, ``label_maps/`` and ``annotated.mp4`` go.
        class_name: Product class of every frame (anomaly; default: from the path, or the only class).
        batch_size: Frames per call for files and folders.
        overlay: ``False`` is ``save='none'``.
        jsonl: Write JSON lines instead of CSV.
        log: Stream for warnings, per-frame lines and the summary.
        save: Overlay PNGs for ``'all'`` frames, only ``'defects'`` (anomaly), or ``'none'``; default ``'all'`` for
            files and folders, ``'defects'`` for videos and live sources (segmentation: ``'all'``).
        video: Also write ``annotated.mp4`` (every judged frame's overlay) at the source's frame rate.
        vid_stride: Videos and live sources: judge every ``vid_stride``-th frame.
        frame_log: One log line per frame (verdict and score, or the largest classes; latency, dropped frames);
            default on for videos and live sources.

    Returns:
        ``{'rows', 'counts', 'backend', 'frames', 'dropped', 'latency_ms': {'mean', 'p95'}, 'video'}``: anomaly
        adds ``'verdicts'`` (the rows file) and counts ``{'GOOD', 'DEFECT', 'unknown', 'error'}``; segmentation
        counts ``{'ok', 'error'}`` and adds ``'label_maps'`` (folder) and ``'mean_area'`` (``{class: mean
        fraction}`` over the frames labelled).

    Raises:
        FileNotFoundError: The input does not exist (names it).
        ValueError: Unknown ``class_name`` (lists the known classes), a class name for a segmentor, or a bad
            ``save`` mode.
        StreamStalled: A camera or stream stopped delivering (after writing everything before it).
    """
    task = getattr(predictor, "task", "anomaly")
    seg = task == "segmentation"
    if class_name is not None:
        class_name = predictor.resolve_class(class_name)
    stream = not osp.isdir(input) and not (osp.isfile(input) and input.lower().endswith(IMAGE_EXTENSIONS))
    save = "none" if not overlay else (save or ("defects" if stream and not seg else "all"))
    if save not in SAVE_MODES:
        raise ValueError(f"save must be one of {SAVE_MODES}, got {save!r}")
    if seg and save == "defects":
        raise ValueError("--save defects is for anomaly models; a segmentation run saves 'all' overlays or 'none'")
    frame_log = stream if frame_log is None else frame_log
    frames = iter_frames(input, vid_stride=vid_stride)
    first = next(frames, None)  # fail on a missing input before any file is written
    live = is_live(input) and not osp.exists(input)
    names = OverlayNames(input if osp.isdir(input) else None)
    size = 1 if live else max(1, int(batch_size))
    os.makedirs(out_dir, exist_ok=True)
    if save != "none":
        os.makedirs(osp.join(out_dir, "overlays"), exist_ok=True)
    label_dir = osp.join(out_dir, "label_maps")
    if seg:
        os.makedirs(label_dir, exist_ok=True)
    path = osp.join(out_dir, ROW_FILES.get(task, "verdicts") + (".jsonl" if jsonl else ".csv"))
    counts = {"ok": 0, "error": 0} if seg else {"GOOD": 0, "DEFECT": 0, "unknown": 0, "error": 0}
    failed = SegResult if seg else Result
    area_sum = np.zeros(len(predictor.classes)) if seg else None
    backend_name = getattr(predictor, "backend_name", type(predictor).__name__)
    movie = AnnotatedVideo(osp.join(out_dir, "annotated.mp4"), _fps(input)) if video else None
    latencies: list[float] = []
    dropped = 0

    def emit(result: Any, frame: Frame | None = None) -> None:
        if result.error:
            writer.write(result)
            counts["error"] += 1
            print(f"warning: {result.source}: {result.error}", file=log)
            return
        keep = save == "all" or (save == "defects" and bool(result.label))
        name = names(result.source) if seg or keep else ""  # a name is reserved only for a file that is written
        if seg:
            result.label_map_path = safe_join(label_dir, name)
            write_label_map(result.label_map_path, result.label_map)
        writer.write(result)
        counts["ok" if seg else verdict(result)] += 1
        if seg:
            area_sum[:] += result.fractions
        if result.latency_ms is not None:
            latencies.append(result.latency_ms)
        if frame_log:
            extra = f"  dropped {frame.dropped}" if frame is not None and frame.dropped else ""
            what = _top_classes(result) if seg else f"{verdict(result)}  score {result.score:.3f}"
            print(f"{result.source}  {what}  {result.latency_ms or 0.0:.1f} ms{extra}", file=log)
        if frame is not None and frame.rgb is not None and (keep or movie is not None):
            pic = predictor.overlay(frame.rgb, result) if seg else overlay_picture(frame.rgb, result)
            if keep:
                save_rgb(safe_join(osp.join(out_dir, "overlays"), name), pic)
            if movie is not None:
                movie.write(pic)

    def flush(batch: list[tuple[Frame, str | None]]) -> None:
        if not batch:
            return
        try:
            results = predictor.predict([f.rgb for f, _ in batch], [c for _, c in batch],
                                        [f.source for f, _ in batch])
        except (ValueError, RuntimeError) as err:  # a bad batch is reported, and the stream goes on
            results = [failed(f.source, c, error=f"inference failed: {err}") for f, c in batch]
        for (frame, _), result in zip(batch, results):
            emit(result, frame)
        batch.clear()

    batch: list[tuple[Frame, str | None]] = []
    columns = seg_columns(predictor.classes) if seg else COLUMNS
    row = (lambda r: seg_row(r, predictor.classes)) if seg else result_row
    with VerdictWriter(path, "jsonl" if jsonl else "csv", columns, row) as writer:
        try:
            for frame in _chain(first, frames):
                dropped += frame.dropped
                cls_name = None if seg else class_name or guess_class(frame.source, predictor.classes)
                if frame.rgb is None:
                    emit(failed(frame.source, cls_name, error=frame.error or "frame could not be decoded"))
                elif cls_name is None and predictor.classes and not seg:
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
            mean_area = ({c: float(a) / counts["ok"] for c, a in zip(predictor.classes, area_sum)}
                         if seg and counts["ok"] else {})
            areas = "; mean area " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in
                                               sorted(mean_area.items(), key=lambda kv: -kv[1])[:5]) \
                if mean_area else ""
            print(f"{sum(counts.values())} inputs ({backend_name}): {counts}; latency mean {summary['mean']:.1f} ms, "
                  f"p95 {summary['p95']:.1f} ms" + areas + (f"; {dropped} frames dropped" if dropped else "")
                  + f"; {'rows' if seg else 'verdicts'} in {path}" + (f", label maps in {label_dir}" if seg else "")
                  + (f", video in {movie.path}" if movie is not None else ""), file=log)
    out = {"rows": path, "counts": counts, "backend": backend_name, "frames": sum(counts.values()),
           "dropped": dropped, "latency_ms": summary, "video": movie.path if movie is not None else None}
    if seg:
        out.update(label_maps=label_dir, mean_area=mean_area)
    else:
        out["verdicts"] = path
    return out


def _top_classes(result: Any, top: int = 3) -> str:
    """``road 52.1%, car 20.3%, sky 9.9%``: the largest classes of a segmentation result."""
    fr = result.fractions
    order = [int(k) for k in np.argsort(-fr, kind="stable")[:top] if fr[k] > 0]
    return ", ".join(f"{result.class_names[k]} {100 * fr[k]:.1f}%" for k in order)


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
