"""Run a segmentation bundle on RGB frames with onnxruntime or TensorRT: numpy and OpenCV only, no torch.

Bundles come from :mod:`gen3d.deploy.segmentation_bundle`. ``end2end`` graphs take ``image`` uint8 ``(N, H, W, 3)``
RGB (normalisation in the graph) and return ``seg_logits`` float32 ``(N, C, H, W)`` or ``label_map`` uint8
``(N, H, W)``; ``raw`` graphs take the preprocessed float32 ``(N, 3, H, W)`` (``(x - mean) / std`` from the
manifest's ``preprocessing``, applied here) and return ``seg_logits``. Neither resizes: a frame is resized to the
graph's ``(H, W)`` (``preprocessing.resize``, cv2 with the manifest's ``interpolation``, as the deploy gate fed its
images), and the prediction is brought back to the frame's own size: the logits bilinearly, then the argmax (what
``EncoderDecoder.predict`` does with its logits at ``ori_shape``), or a label-map output with nearest neighbour.

Per frame (:class:`SegResult`): the label map ``(H, W)`` at the frame's size (uint8 ids, uint16 past 256
classes), the pixel count and fraction of every class, and a palette overlay (:meth:`SegmentationRuntime.overlay`:
the dataset's palette from ``model.palette`` where the manifest has one, else the fixed VOC colormap).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from gen3d.runtime.anomaly import _INTERPOLATION, _as_rgb
from gen3d.runtime.backend import Backend, make_backend, static_dims
from gen3d.runtime.colormaps import label_colormap
from gen3d.runtime.manifest import ManifestError, load_manifest
from gen3d.runtime.overlay import draw_seg_overlay

OUTPUTS = ("seg_logits", "label_map")


@dataclass
class SegResult:
    """The segmentation of one frame; the same type whichever backend (or PyTorch checkpoint) ran it.

    Attributes:
        source: Where the frame came from (file path, ``video#index``, ...).
        class_name: Always ``None`` (the inspection loop's product-class slot; a segmentor has none).
        label_map: ``(H, W)`` class ids at the frame's size: uint8, or uint16 for more than 256 classes.
        counts: ``(C,)`` int64 pixels of each class.
        class_names: Name of each class id (``class_<k>`` where the bundle has none).
        error: Why there is no label map (decode failure, ...), else ``None``.
        latency_ms: Time per frame of its batch: preprocessing + backend + postprocessing.
        label_map_path: Where the inspection loop wrote the label-map PNG.
    """

    source: str
    class_name: str | None = None
    label_map: np.ndarray | None = None
    counts: np.ndarray | None = None
    class_names: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None
    latency_ms: float | None = None
    label_map_path: str | None = None

    @property
    def fractions(self) -> np.ndarray | None:
        """``(C,)`` float64 fraction of the frame's pixels in each class (sums to 1)."""
        if self.counts is None:
            return None
        return self.counts / max(int(self.counts.sum()), 1)

    def areas(self) -> dict[str, dict[str, float | int]]:
        """``{class name: {'fraction': f, 'pixels': n}}`` (empty for a failed frame)."""
        if self.counts is None:
            return {}
        fr = self.fractions
        return {n: {"fraction": float(fr[k]), "pixels": int(self.counts[k])} for k, n in enumerate(self.class_names)}


def label_dtype(num_classes: int) -> np.dtype:
    """uint8 for up to 256 classes, uint16 up to 65536 (a PNG holds either)."""
    if num_classes > 65536:
        raise ValueError(f"{num_classes} classes do not fit a 16-bit label map")
    return np.dtype(np.uint8 if num_classes <= 256 else np.uint16)


def seg_result(source: str, label_map: np.ndarray, class_names: Sequence[str],
               latency_ms: float | None = None) -> SegResult:
    """A :class:`SegResult` from a label map: counts per class, ids stored as :func:`label_dtype`."""
    n = len(class_names)
    counts = np.bincount(np.asarray(label_map).reshape(-1).astype(np.int64), minlength=n)[:n]
    return SegResult(source, None, np.asarray(label_map).astype(label_dtype(n)), counts.astype(np.int64),
                     tuple(class_names), latency_ms=latency_ms)


def write_label_map(path: str, label_map: np.ndarray) -> None:
    """Save class ids as a single-channel PNG (uint8 or uint16, lossless; read back with :func:`read_label_map`).

    Raises:
        OSError: The file could not be written.
    """
    ids = np.ascontiguousarray(label_map)
    if ids.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a label-map PNG holds uint8 or uint16 ids, got {ids.dtype}")
    if not cv2.imwrite(path, ids):
        raise OSError(f"Could not write label map {path}")


def read_label_map(path: str) -> np.ndarray:
    """Read a label-map PNG written by :func:`write_label_map`: ``(H, W)`` uint8 or uint16 ids, unchanged.

    Raises:
        OSError: The file cannot be read as an image.
    """
    ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if ids is None:
        raise OSError(f"cannot read label map {path}")
    return ids


def resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (half-pixel centres, no antialias: torch's ``align_corners=False``) ``(C, h, w)`` -> ``(C, H, W)``."""
    if logits.shape[1:] == tuple(size):
        return logits
    h, w = size
    hwc = np.ascontiguousarray(logits.transpose(1, 2, 0))
    chunks = [cv2.resize(hwc[:, :, i:i + 4], (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
              for i in range(0, hwc.shape[2], 4)]  # OpenCV resizes at most 4 channels per call on every build
    return np.concatenate(chunks, axis=2).transpose(2, 0, 1)


class SegmentationRuntime:
    """A segmentation bundle ready to label frames (the same shape as :class:`~gen3d.runtime.AnomalyRuntime`).

    Args:
        bundle_dir: Folder with ``manifest.json`` and ``model.onnx`` (and ``model.engine``).
        backend: ``'auto'``, ``'onnxruntime'`` or ``'tensorrt'``, or a ready :class:`~gen3d.runtime.backend.Backend`.
        threads: CPU threads for onnxruntime (``None``: its default).
        verify_hashes: Verify the manifest's and every file's sha256 (``False``: load a modified bundle, warned).
        spin: onnxruntime thread spinning (``None``: the bundle's hint).

    Attributes:
        classes: Class names, one per id (``class_<k>`` where the manifest names none).
        palette: uint8 ``(C, 3)`` RGB: ``model.palette`` of the manifest, else :func:`label_colormap`.
        task: ``'segmentation'`` (the inspection loop picks its rows and overlays by it).

    Raises:
        ManifestError: Not a segmentation bundle (names the task it holds), invalid manifest, hash mismatch, or a
            graph whose inputs/outputs do not match it.
        RuntimeError: The backend cannot run here (says why).
    """

    task = "segmentation"

    def __init__(self, bundle_dir: str, backend: str | Backend = "auto", threads: int | None = None,
                 verify_hashes: bool = True, spin: bool | int | None = None) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = load_manifest(bundle_dir, verify_hashes=verify_hashes)
        task = self.manifest["task"]
        if task != "segmentation":
            hint = {"anomaly": "AnomalyRuntime", "generation": "GeneratorRuntime"}.get(task, "another runtime")
            raise ManifestError(f"{bundle_dir} holds a {task} model, not a segmentation model (use {hint}, or "
                                "run_bundle, which picks the runtime from the manifest's task)")
        self.mode = self.manifest["mode"]
        if self.mode not in ("end2end", "raw"):
            raise ManifestError(f"{bundle_dir}: unknown mode {self.mode!r} (expected 'end2end' or 'raw')")
        self.backend = make_backend(backend, bundle_dir, self.manifest, threads, spin) if isinstance(backend, str) \
            else backend
        self.backend_name = getattr(self.backend, "name", type(self.backend).__name__)
        self._check_io()
        self._read_classes()

    # -- setup --------------------------------------------------------------------------------------------------
    def _check_io(self) -> None:
        where = f"bundle {self.bundle_dir} ({self.backend_name})"
        inputs, outputs = self.manifest["inputs"], self.manifest["outputs"]
        self.input_name = inputs[0]["name"]
        want_dtype = "uint8" if self.mode == "end2end" else "float32"
        if np.dtype(inputs[0].get("dtype", want_dtype)) != np.dtype(want_dtype):
            raise ManifestError(f"{where}: a {self.mode} segmentation graph takes a {want_dtype} input, the manifest "
                                f"declares {inputs[0].get('dtype')!r} for {self.input_name!r}")
        graph_in, graph_out = list(self.backend.input_names), list(self.backend.output_names)
        if graph_in != [self.input_name]:
            raise ManifestError(f"{where}: the graph's inputs {graph_in} are not the manifest's [{self.input_name!r}]")
        got = np.dtype(self.backend.input_dtypes[self.input_name])
        if got != np.dtype(want_dtype):
            raise ManifestError(f"{where}: input {self.input_name!r} is {got} in the graph but {want_dtype} in the "
                                "manifest")
        declared = [e["name"] for e in outputs]
        self.output_name = next((n for n in declared if n in OUTPUTS), None)
        if self.output_name is None:
            raise ManifestError(f"{where}: the manifest declares outputs {declared}, none of {list(OUTPUTS)}")
        if self.output_name not in graph_out:
            raise ManifestError(f"{where}: the graph lacks output {self.output_name!r} (graph outputs: {graph_out})")
        self._out_entry = next(e for e in outputs if e["name"] == self.output_name)
        shape = static_dims(self.backend.input_shapes[self.input_name])
        self.max_batch = shape[0]  # None: any batch size
        hw = (shape[1:3] if self.mode == "end2end" else shape[2:4]) if len(shape) == 4 else (None, None)
        pre = self.manifest.get("preprocessing") or {}
        resize = pre.get("resize") or (hw if None not in hw else None)
        self.input_size = (int(resize[0]), int(resize[1])) if resize else None  # None: frames go in at their size
        if self.input_size and None not in hw and tuple(hw) != self.input_size:
            raise ManifestError(f"{where}: preprocessing.resize {list(self.input_size)} differs from the graph's "
                                f"input size {list(hw)}")
        self.interpolation = _INTERPOLATION.get(str(pre.get("interpolation", "bilinear")))
        if self.interpolation is None:
            raise ManifestError(f"{where}: unknown preprocessing.interpolation {pre.get('interpolation')!r} "
                                f"(known: {sorted(_INTERPOLATION)})")
        # antialias=true: OpenCV's area filter is the antialiased downscale (torch antialias=True is a triangle
        # filter; equal for integer factors); the deploy gate writes antialias=false, i.e. plain bilinear.
        self.antialias = bool(pre.get("antialias", False))
        self.bgr = str(pre.get("color", "RGB")).upper() == "BGR"
        if self.mode == "raw":
            self.mean = np.asarray(pre.get("mean", [0.0, 0.0, 0.0]), np.float32)
            self.std = np.asarray(pre.get("std", [1.0, 1.0, 1.0]), np.float32)
            if self.mean.shape != (3,) or self.std.shape != (3,) or not np.all(self.std > 0):
                raise ManifestError(f"{where}: preprocessing.mean/std must be 3 values each, std > 0")
            self.unit_scale = pre.get("scale", "0-255") == "0-1"

    def _read_classes(self) -> None:
        where = f"bundle {self.bundle_dir}"
        model = self.manifest.get("model") or {}
        shape = self._out_entry.get("shape") or []
        n = model.get("num_classes")
        if n is None and self.output_name == "seg_logits" and len(shape) == 4 and isinstance(shape[1], int):
            n = shape[1]
        names = [str(c) for c in (model.get("classes") or [])]
        n = int(n if n is not None else len(names))
        if n <= 0:
            raise ManifestError(f"{where}: model.num_classes is missing (and no class list or logits shape tells it)")
        if names and len(names) != n:
            raise ManifestError(f"{where}: model.classes has {len(names)} names for {n} classes")
        self.num_classes = n
        self.classes: list[str] = names or [f"class_{k}" for k in range(n)]
        palette = model.get("palette")
        if palette:
            arr = np.asarray(palette)
            if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < n or arr.min() < 0 or arr.max() > 255:
                raise ManifestError(f"{where}: model.palette must hold {n} RGB triples in 0..255, got shape "
                                    f"{list(arr.shape)}")
            self.palette = arr[:n].astype(np.uint8)
        else:
            self.palette = label_colormap(n)
        self.label_dtype = label_dtype(n)

    # -- the inspection loop's predictor interface --------------------------------------------------------------
    def resolve_class(self, class_name: str | None) -> None:
        """``None``: a segmentor labels every pixel and takes no product class.

        Raises:
            ValueError: A class name was given (``--class-name`` is for anomaly bundles).
        """
        if class_name is not None:
            raise ValueError(f"--class-name {class_name!r} is for anomaly bundles; a segmentation bundle labels every "
                             f"pixel with one of {self.classes}")
        return None

    def overlay(self, rgb: np.ndarray, result: SegResult) -> np.ndarray:
        """Image | palette overlay of ``result`` with its largest classes: ``(H + caption, 2W, 3)`` uint8 RGB."""
        return draw_seg_overlay(rgb, result.label_map, self.palette, self.classes, result.fractions)

    # -- inference ----------------------------------------------------------------------------------------------
    def predict(self, frames: Sequence[np.ndarray], class_names: object = None,
                sources: Sequence[str] | None = None) -> list[SegResult]:
        """Label frames of any size.

        Args:
            frames: ``(H, W, 3)`` uint8 RGB arrays (``(H, W)`` grayscale is accepted); sizes may differ.
            class_names: Ignored (the inspection loop's product classes); ``None``.
            sources: Names recorded in the results (default ``frame_<i>``).

        Returns:
            One :class:`SegResult` per frame, in order, its label map at the frame's size.

        Raises:
            ValueError: A frame that is not RGB uint8.
        """
        n = len(frames)
        sources = list(sources) if sources is not None else [f"frame_{i}" for i in range(n)]
        rgbs = [_as_rgb(f) for f in frames]
        prepared, prep_ms = [], []
        for rgb in rgbs:
            t0 = time.perf_counter()
            prepared.append(self._prepare(rgb))
            prep_ms.append((time.perf_counter() - t0) * 1000.0)
        results: list[SegResult | None] = [None] * n
        groups: dict[tuple, list[int]] = {}
        for i, x in enumerate(prepared):  # one backend call per input shape (graphs of any size), in order
            groups.setdefault(x.shape, []).append(i)
        step = self.max_batch or max(n, 1)
        for members in groups.values():
            for start in range(0, len(members), step):
                chunk = members[start:start + step]
                for i, res in zip(chunk, self._run(chunk, prepared, rgbs, sources)):
                    res.latency_ms = (res.latency_ms or 0.0) + prep_ms[i]
                    results[i] = res
        return results  # type: ignore[return-value]

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """One frame as the graph wants it: ``(H, W, 3)`` uint8 (end2end) or ``(3, H, W)`` float32 (raw)."""
        if self.input_size and rgb.shape[:2] != self.input_size:
            h, w = self.input_size
            down = h < rgb.shape[0] or w < rgb.shape[1]
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if self.antialias and down
                             else self.interpolation)
        if self.bgr:
            rgb = rgb[:, :, ::-1]
        if self.mode == "end2end":
            return np.ascontiguousarray(rgb)
        x = rgb.astype(np.float32)
        if self.unit_scale:
            x /= 255.0
        x = (x - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def _run(self, idx: list[int], prepared: list[np.ndarray], rgbs: list[np.ndarray],
             sources: list[str]) -> list[SegResult]:
        start = time.perf_counter()
        batch = np.stack([prepared[i] for i in idx])
        if self.max_batch and len(idx) < self.max_batch:  # a static batch: pad with the last frame, drop its output
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.max_batch - len(idx), axis=0)])
        out = np.asarray(self.backend.run({self.input_name: batch})[self.output_name])[:len(idx)]
        results = []
        for j, i in enumerate(idx):
            size = rgbs[i].shape[:2]
            if self.output_name == "seg_logits":
                labels = resize_logits(out[j].astype(np.float32, copy=False), size).argmax(0)
            else:
                labels = out[j].astype(self.label_dtype, copy=False)
                if labels.shape != size:
                    labels = cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            results.append(seg_result(sources[i], labels, self.classes))
        latency = (time.perf_counter() - start) * 1000.0 / len(idx)
        for res in results:
            res.latency_ms = latency
        return results
