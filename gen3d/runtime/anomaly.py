"""Run an anomaly bundle on RGB frames with onnxruntime or TensorRT: numpy and OpenCV only, no torch.

``end2end`` bundles take ``image`` uint8 ``(N, H, W, 3)`` RGB, ``class_index`` int64 ``(N,)`` and the per-class
``image_threshold`` / ``pixel_threshold`` float32 ``(C,)``, and return ``pred_score``, ``pred_label``,
``anomaly_map`` and ``pred_mask`` (see :mod:`gen3d.runtime.manifest`). ``raw`` bundles take the preprocessed
float32 ``(N, 3, H, W)`` tensor and return ``anomaly_map`` and ``pred_score``: the preprocessing (resize,
mean/std from the manifest) and the thresholds are applied here, in numpy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gen3d.runtime.backend import Backend, make_backend, static_dims
from gen3d.runtime.manifest import ManifestError, load_manifest

_INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                  "bicubic": cv2.INTER_CUBIC, "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}
Thresholds = Mapping[str, Mapping[str, float | None]]


@dataclass
class Result:
    """The verdict on one frame; the same type whichever backend ran it.

    Attributes:
        source: Where the frame came from (file path, ``video#index``, ...).
        class_name: Product class the frame was judged as.
        score: Normalised image score ``clip(raw / (2 * image_threshold), 0, 1)``, 0.5 = the class threshold:
            the graph's ``pred_score`` for ``end2end`` bundles, computed here for ``raw`` ones (the raw score
            itself when a raw bundle's class has no threshold). ``None`` for a frame that failed.
        label: ``True`` defective, ``False`` good, ``None`` undecided (no threshold, or the frame failed).
        anomaly_map: ``(h, w)`` float32 map at the graph's output resolution, normalised like ``score``
            (0.5 = pixel threshold); a ``raw`` bundle's class without a pixel threshold keeps the raw map.
        pred_mask: ``(h, w)`` uint8 0/1 defect mask, ``None`` without a pixel threshold.
        raw_score: The unnormalised image score, where the graph gives one.
        map_threshold: The value of ``anomaly_map`` that is the pixel threshold (for drawing heatmaps).
        error: Why there is no verdict (decode failure, unknown class, ...), else ``None``.
        latency_ms: Time per frame of its batch: preprocessing + backend + postprocessing.
    """

    source: str
    class_name: str | None
    score: float | None = None
    label: bool | None = None
    anomaly_map: np.ndarray | None = None
    pred_mask: np.ndarray | None = None
    raw_score: float | None = None
    map_threshold: float | None = None
    error: str | None = None
    latency_ms: float | None = None


def apply_thresholds(result: Result, raw_score: float, raw_map: np.ndarray,
                     thresholds: Mapping[str, float | None]) -> Result:
    """The end2end post-processing (:mod:`gen3d.deploy.anomaly_wrapper`) in numpy, on a raw score and map.

    ``score = clip(raw / (2 * image_threshold), 0, 1)`` (0.5 = the threshold), ``label = raw >= image_threshold``,
    the map normalised the same way by the pixel threshold and ``pred_mask = map >= pixel_threshold``; without a
    threshold the raw value is kept and there is no verdict. Raw bundles and PyTorch checkpoints go through this,
    so the score column means the same on every path.

    Args:
        result: Filled in place (``score``, ``label``, ``anomaly_map``, ``pred_mask``, ``raw_score``,
            ``map_threshold``).
        raw_score: The unnormalised image score.
        raw_map: ``(h, w)`` float32 raw anomaly map.
        thresholds: ``{'image': t or None, 'pixel': t or None}`` of the frame's class.

    Returns:
        ``result``.
    """
    result.raw_score = float(raw_score)
    result.anomaly_map = np.asarray(raw_map, np.float32)
    t_img, t_pix = thresholds.get("image"), thresholds.get("pixel")
    result.score = float(np.clip(result.raw_score / (2.0 * t_img), 0.0, 1.0)) if t_img else result.raw_score
    result.label = None if t_img is None else bool(result.raw_score >= t_img)
    if t_pix:
        result.pred_mask = (result.anomaly_map >= t_pix).astype(np.uint8)
        result.anomaly_map = np.clip(result.anomaly_map / (2.0 * t_pix), 0.0, 1.0).astype(np.float32)
        result.map_threshold = 0.5
    return result


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    return frame


class AnomalyRuntime:
    """An anomaly bundle ready to judge frames.

    Args:
        bundle_dir: Folder with ``manifest.json`` and ``model.onnx`` (and ``model.engine``).
        backend: ``'auto'``, ``'onnxruntime'`` or ``'tensorrt'`` (see :func:`~gen3d.runtime.backend.make_backend`),
            or a ready :class:`~gen3d.runtime.backend.Backend` object.
        threads: CPU threads for onnxruntime (``None``: its default).
        spin: onnxruntime thread spinning (``None``: the bundle's hint; see :class:`~gen3d.runtime.backend.OrtBackend`).
        verify_hashes: Verify the bundle whole: the manifest's own hash (classes, thresholds, preprocessing...) and
            every named file's sha256 (:func:`~gen3d.runtime.manifest.load_manifest`); ``False`` loads a modified
            bundle with a warning (files outside the bundle are refused anyway).

    Raises:
        ManifestError: Invalid manifest, hash mismatch, or a graph whose inputs/outputs do not match it.
        RuntimeError: The backend cannot run here (says why).
    """

    def __init__(self, bundle_dir: str, backend: str | Backend = "auto", threads: int | None = None,
                 verify_hashes: bool = True, spin: bool | int | None = None) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = load_manifest(bundle_dir, verify_hashes=verify_hashes)
        if self.manifest["task"] != "anomaly":
            raise ManifestError(f"{bundle_dir} holds a {self.manifest['task']} model, not an anomaly model")
        self.mode = self.manifest["mode"]
        if self.mode not in ("end2end", "raw"):
            raise ManifestError(f"{bundle_dir}: unknown mode {self.mode!r} (expected 'end2end' or 'raw')")
        self.backend = make_backend(backend, bundle_dir, self.manifest, threads, spin) if isinstance(backend, str) \
            else backend
        self.backend_name = getattr(self.backend, "name", type(self.backend).__name__)
        self.classes: list[str] = list(self.manifest["model"].get("classes") or [])
        self._check_io()
        self._thresholds = self._default_thresholds()

    # -- setup --------------------------------------------------------------------------------------------------
    def _check_io(self) -> None:
        """Check that the graph has the manifest's inputs and outputs, with the same dtypes."""
        where = f"bundle {self.bundle_dir} ({self.backend_name})"
        graph_in, graph_out = list(self.backend.input_names), list(self.backend.output_names)
        declared = {e["name"]: e for e in self.manifest["inputs"]}
        if self.mode == "end2end":
            required_in, required_out = ["image", "class_index"], ["pred_score", "anomaly_map"]
            self.input_name = "image"
        else:
            self.input_name = self.manifest["inputs"][0]["name"]
            required_in, required_out = [self.input_name], ["pred_score", "anomaly_map"]
        for name in required_in:
            if name not in declared:
                raise ManifestError(f"{where}: the manifest declares no {name!r} input ({self.mode} mode)")
        for name in [*required_in, *(n for n in declared if n not in required_in)]:
            if name not in graph_in:
                why = (" (it has a manifest default: a graph built from a file that stored the default as an ONNX "
                       "initializer, as onnx-tensorrt does, holds it as a constant and would ignore the fed value; "
                       "rebuild the engine from this bundle's model.onnx)") if "default" in declared[name] else ""
                raise ManifestError(f"{where}: the graph has no input {name!r} (graph inputs: {graph_in}){why}")
        unknown = [n for n in graph_in if n not in declared]
        if unknown:
            raise ManifestError(f"{where}: the graph needs inputs {unknown} that the manifest does not declare")
        for name in graph_in:
            want, got = np.dtype(declared[name]["dtype"]), np.dtype(self.backend.input_dtypes[name])
            if want != got and (want, got) != (np.int64, np.int32):  # TensorRT 8.6 keeps int64 I/O as int32
                raise ManifestError(f"{where}: input {name!r} is {got} in the graph but {want} in the manifest")
        missing = [n for n in [*required_out, *(e["name"] for e in self.manifest["outputs"])] if n not in graph_out]
        if missing:
            raise ManifestError(f"{where}: the graph lacks outputs {missing} (graph outputs: {graph_out})")
        shape = static_dims(self.backend.input_shapes[self.input_name])
        self.max_batch = shape[0]  # None: any batch size
        if self.mode == "end2end" and "class_index" in graph_in and not self.classes:
            raise ManifestError(f"{where}: model.classes is empty, so class_index cannot be fed")
        if self.mode == "end2end":
            self.input_size = shape[1:3] if len(shape) == 4 and None not in shape[1:3] else None
        else:
            pre = self.manifest.get("preprocessing") or {}
            resize = pre.get("resize") or (shape[2:4] if len(shape) == 4 and None not in shape[2:4] else None)
            if resize is None:
                raise ManifestError(f"{where}: raw mode needs preprocessing.resize or a static input size")
            self.input_size = (int(resize[0]), int(resize[1]))
            self.mean = np.asarray(pre.get("mean", [0.0, 0.0, 0.0]), np.float32)
            self.std = np.asarray(pre.get("std", [1.0, 1.0, 1.0]), np.float32)
            self.unit_scale = pre.get("scale", "0-255") == "0-1"
            self.interpolation = _INTERPOLATION.get(str(pre.get("interpolation", "bilinear")), cv2.INTER_LINEAR)

    def _default_thresholds(self) -> dict[str, dict[str, float | None]]:
        """Per-class thresholds: the manifest inputs' defaults, else ``manifest['thresholds']``."""
        table = {c: {"image": None, "pixel": None} for c in self.classes}
        for cls_name, thr in (self.manifest.get("thresholds") or {}).items():
            table.setdefault(cls_name, {"image": None, "pixel": None})
            table[cls_name].update({k: None if v is None else float(v) for k, v in thr.items() if k in table[cls_name]})
        for entry in self.manifest["inputs"]:
            kind = {"image_threshold": "image", "pixel_threshold": "pixel"}.get(entry["name"])
            if kind and entry.get("default") is not None:
                for cls_name, value in zip(self.classes, entry["default"]):
                    table[cls_name][kind] = float(value)
        return table

    # -- classes and thresholds ---------------------------------------------------------------------------------
    @property
    def thresholds(self) -> dict[str, dict[str, float | None]]:
        """A copy of the thresholds in use: ``{class: {'image': t, 'pixel': t}}``."""
        return {k: dict(v) for k, v in self._thresholds.items()}

    def resolve_class(self, class_name: str | None) -> str:
        """The known class meant by ``class_name``; ``None`` is allowed when the bundle has one class.

        Raises:
            ValueError: Unknown class, or ``None`` with several classes; lists the known classes.
        """
        if class_name is None:
            if len(self.classes) == 1:
                return self.classes[0]
            raise ValueError(f"no product class given; this bundle knows {len(self.classes)} classes: "
                             f"{self.classes} (pass --class-name)")
        if self.classes and class_name not in self.classes:
            raise ValueError(f"unknown class {class_name!r}; this bundle knows: {self.classes}")
        return class_name

    def set_thresholds(self, thresholds: Thresholds) -> None:
        """Override thresholds for this runtime, e.g. ``{'bottle': {'image': 0.3, 'pixel': 0.4}}``.

        Keys left out keep their current value. Raises ValueError for an unknown class or key.
        """
        self._thresholds = self._merged(thresholds)

    def _merged(self, thresholds: Thresholds | None) -> dict[str, dict[str, float | None]]:
        table = self.thresholds
        for cls_name, thr in (thresholds or {}).items():
            entry = table[self.resolve_class(cls_name)] if self.classes else table.setdefault(cls_name, {})
            bad = set(thr) - {"image", "pixel"}
            if bad:
                raise ValueError(f"unknown threshold keys {sorted(bad)} for {cls_name!r}; use 'image' and 'pixel'")
            entry.update({k: None if v is None else float(v) for k, v in thr.items()})
        return table

    def _map_threshold(self, pixel_threshold: float | None) -> float | None:
        """The anomaly-map value of the pixel threshold.

        0.5 for the normalised end2end map (the contract of ``gen3d.deploy.anomaly_wrapper``), unless the
        manifest's ``anomaly_map`` output says ``"normalized": false``.
        """
        entry = next((e for e in self.manifest["outputs"] if e["name"] == "anomaly_map"), {})
        return 0.5 if entry.get("normalized", True) else pixel_threshold

    # -- inference ----------------------------------------------------------------------------------------------
    def predict(self, frames: Sequence[np.ndarray], class_names: str | Sequence[str | None] | None = None,
                sources: Sequence[str] | None = None, thresholds: Thresholds | None = None) -> list[Result]:
        """Judge frames of any size.

        Args:
            frames: ``(H, W, 3)`` uint8 RGB arrays (``(H, W)`` grayscale is accepted); sizes may differ.
            class_names: One class for all frames, or one per frame; ``None`` for a one-class bundle.
            sources: Names recorded in the results (default ``frame_<i>``).
            thresholds: Overrides for this call only (see :meth:`set_thresholds`).

        Returns:
            One :class:`Result` per frame, in order.

        Raises:
            ValueError: Unknown class (names it and lists the known ones), or a frame that is not RGB uint8.
        """
        n = len(frames)
        names = [class_names] * n if class_names is None or isinstance(class_names, str) else list(class_names)
        if len(names) != n:
            raise ValueError(f"{n} frames but {len(names)} class names")
        names = [self.resolve_class(c) if self.classes else c for c in names]
        sources = list(sources) if sources is not None else [f"frame_{i}" for i in range(n)]
        table = self._merged(thresholds)
        prepared, prep_ms = [], []
        for f in frames:
            t0 = time.perf_counter()
            prepared.append(self._prepare(_as_rgb(f)))
            prep_ms.append((time.perf_counter() - t0) * 1000.0)
        results: list[Result | None] = [None] * n
        groups: dict[tuple, list[int]] = {}
        for i, x in enumerate(prepared):  # one backend call per input shape (dynamic graphs), in order
            groups.setdefault(x.shape, []).append(i)
        step = self.max_batch or max(n, 1)
        for members in groups.values():
            for start in range(0, len(members), step):
                chunk = members[start:start + step]
                for i, res in zip(chunk, self._run(chunk, prepared, names, sources, table)):
                    res.latency_ms = (res.latency_ms or 0.0) + prep_ms[i]
                    results[i] = res
        return results  # type: ignore[return-value]

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """One frame as the graph wants it: ``(H, W, 3)`` uint8 (end2end) or ``(3, H, W)`` float32 (raw)."""
        if self.mode == "end2end":
            if self.input_size and rgb.shape[:2] != tuple(self.input_size):
                rgb = cv2.resize(rgb, (self.input_size[1], self.input_size[0]), interpolation=cv2.INTER_LINEAR)
            return np.ascontiguousarray(rgb)
        h, w = self.input_size
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=self.interpolation)
        x = rgb.astype(np.float32)
        if self.unit_scale:
            x /= 255.0
        x = (x - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def _run(self, idx: list[int], prepared: list[np.ndarray], names: list[str | None], sources: list[str],
             table: dict[str, dict[str, float | None]]) -> list[Result]:
        start = time.perf_counter()
        batch = np.stack([prepared[i] for i in idx])
        feeds: dict[str, np.ndarray] = {self.input_name: batch}
        if self.mode == "end2end":
            feeds["class_index"] = np.asarray([self.classes.index(names[i]) for i in idx], np.int64)
            for kind in ("image", "pixel"):
                feeds[f"{kind}_threshold"] = np.asarray(
                    [np.nan if table[c][kind] is None else table[c][kind] for c in self.classes], np.float32)
            missing = {names[i] for i in idx if None in table[names[i]].values()}
            if missing:
                raise ValueError(f"no thresholds for classes {sorted(missing)} in {self.bundle_dir}; "
                                 f"set them with set_thresholds")
        out = self.backend.run(feeds)
        amaps = np.asarray(out["anomaly_map"], np.float32)
        if amaps.ndim == 4:
            amaps = amaps[:, 0]
        scores = np.asarray(out["pred_score"], np.float32).reshape(len(idx), -1)[:, 0]
        results = []
        for j, i in enumerate(idx):
            thr = table.get(names[i] or "", {}) if names[i] is not None else {}
            res = Result(sources[i], names[i], anomaly_map=amaps[j])
            if self.mode == "end2end":
                res.score = float(scores[j])
                if "pred_label" in out:
                    res.label = bool(np.asarray(out["pred_label"]).reshape(len(idx), -1)[j, 0])
                if "pred_mask" in out:
                    mask = np.asarray(out["pred_mask"])
                    res.pred_mask = (mask[:, 0] if mask.ndim == 4 else mask)[j].astype(np.uint8)
                if "raw_score" in out:
                    res.raw_score = float(np.asarray(out["raw_score"]).reshape(len(idx), -1)[j, 0])
                res.map_threshold = self._map_threshold(thr.get("pixel"))
            else:
                apply_thresholds(res, float(scores[j]), amaps[j], thr)
            results.append(res)
        latency = (time.perf_counter() - start) * 1000.0 / len(idx)
        for res in results:
            res.latency_ms = latency
        return results
