"""What the parity gates of every family share: the fp32 tolerance, the error, backend runners and the batched run.

A *runner* is a function ``feeds -> {output name: array}`` (:func:`ort_runner`, :func:`trt_runner`, or a PyTorch
stand-in in tests); :func:`batched_outputs` feeds it a set of inputs in batches and concatenates what it returns; the
families' gates (:mod:`.anomaly`, :mod:`.segmentation`, :mod:`.generation`) compare that with the PyTorch reference
and raise :class:`ParityError` (message made by :func:`parity_failure`) when it is outside the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]

FP32_ATOL = 1e-4
"""The fp32 tolerance of every family: absolute on the normalised anomaly map; relative to ``max(1, max |ref|)`` on
segmentation logits and float generator images (:func:`relative_gate`)."""


class ParityError(AssertionError):
    """An exported model does not reproduce PyTorch within the gate; the message carries the numbers."""


def parity_failure(what: str, detail: str, images: int | None = None, kind: str = "vs PyTorch parity") -> ParityError:
    """The error of a failed gate: ``'<what> <kind> FAILED on <images> images: <detail>'``.

    Args:
        what: Backend name (``'onnxruntime fp32'``, ``'tensorrt fp16'``, ...).
        detail: The measured numbers and their gates.
        images: Images the gate ran on (None: not said).
        kind: What failed (``'vs PyTorch parity'``, ``'task-level parity'``).

    Returns:
        The :class:`ParityError` to raise.
    """
    where = "" if images is None else f" on {images} images"
    return ParityError(f"{what} {kind} FAILED{where}: {detail}")


def max_abs_diff(ref: np.ndarray, out: np.ndarray) -> float:
    """``max |ref - out|`` computed in float64 (0 for empty arrays, ``nan`` where a value is ``nan``)."""
    return float(np.abs(np.asarray(ref, np.float64) - np.asarray(out, np.float64)).max(initial=0.0))


def relative_gate(ref: np.ndarray, atol: float) -> tuple[float, float]:
    """``(scale, gate)``: the value scale ``max(1, max |ref|)`` and the gate ``atol * scale``.

    fp32 rounding grows with the values: trained segmentors reach |logits| of 100+, where one fp32 ulp is already
    ~1e-5 and reordered convolution sums differ by tens of ulps; for values within [-1, 1] the gate is ``atol``.
    """
    scale = max(1.0, float(np.abs(ref).max()))
    return scale, atol * scale


def ort_runner(onnx_path: str | bytes, threads: int = 1, exact_int8: bool = False) -> Runner:
    """A function ``feeds -> {output: array}`` over an ONNX Runtime CPU session (full graph optimisation by default).

    ``onnx_path`` is a file or the serialized model's bytes. ``exact_int8``: basic graph optimisation, so that an
    int8 Q/DQ file runs as written (simulated quantisation) rather than on fused int8 kernels, as the runtime does
    where those kernels would saturate (:func:`gen3d.runtime.hardware.int8_needs_exact_kernels`).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if exact_int8:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return lambda feeds: dict(zip(names, sess.run(names, dict(feeds))))


def trt_runner(engine_path: str, inputs: list[dict]) -> Runner:
    """A function ``feeds -> {output: array}`` over a TensorRT engine (:class:`gen3d.runtime.trt_backend.TrtBackend`).

    Args:
        engine_path: The serialized engine.
        inputs: The manifest's ``inputs`` entries (names, dtypes, shapes) the backend checks feeds against.
    """
    from gen3d.runtime.trt_backend import TrtBackend

    return TrtBackend(engine_path, {"inputs": inputs}).run


def batched_outputs(run: Runner, feeds: Mapping[str, np.ndarray], batch_size: int,
                    fixed: Mapping[str, np.ndarray] | None = None,
                    names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Run ``run`` over ``feeds`` in batches along axis 0 and concatenate its outputs.

    Args:
        run: The backend (a runner).
        feeds: Inputs sliced into batches, each ``(N, ...)`` with the same ``N``.
        batch_size: Rows per call.
        fixed: Inputs fed whole with every batch (thresholds, ``truncation_psi``).
        names: Outputs kept (None: every output the backend returns).

    Returns:
        ``{output name: (N, ...) array}``.
    """
    total = len(next(iter(feeds.values())))
    chunks: dict[str, list[np.ndarray]] = {}
    for i in range(0, total, batch_size):
        out = run({**{k: v[i:i + batch_size] for k, v in feeds.items()}, **(fixed or {})})
        for name in (out if names is None else names):
            chunks.setdefault(name, []).append(out[name])
    return {k: np.concatenate(v) for k, v in chunks.items()}


def eval_dataset(cfg: Mapping, split: str = "val") -> Any:
    """The dataset of a split of the model config, without pipeline (its ``get_data_info`` gives the image paths).

    A ``SyntheticDefectValDataset`` is unwrapped to the dataset it wraps: the anomaly gates add their own defect
    copies (:func:`gen3d.deploy.parity.anomaly.load_eval_set`).

    Args:
        cfg: The model's mmengine config (``<split>_dataloader.dataset`` with ``data_root`` set).
        split: ``'val'``, ``'test'`` or ``'train'``.
    """
    from mmengine.registry import init_default_scope

    from gen3d.registry import DATASETS

    init_default_scope(cfg.get("default_scope", "gen3d"))
    ds_cfg = cfg[f"{split}_dataloader"]["dataset"]
    ds_cfg = ds_cfg.to_dict() if hasattr(ds_cfg, "to_dict") else dict(ds_cfg)
    if ds_cfg.get("type") == "SyntheticDefectValDataset":
        ds_cfg = dict(ds_cfg["dataset"])
    ds_cfg["pipeline"] = []
    return DATASETS.build(ds_cfg)


def spread_indices(total: int, keep: int) -> list[int]:
    """Up to ``keep`` indices of ``range(total)``, evenly spread over it (sorted, without repeats)."""
    return sorted(set(np.linspace(0, total - 1, min(keep, total)).round().astype(int).tolist()))


def load_rgb(path: str, size: Sequence[int] | None = None) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of an image file, resized with cv2 bilinear to ``size`` ``(H, W)`` where it differs."""
    import cv2

    from gen3d.datasets.transforms.loading import imread_rgb

    img = imread_rgb(path)
    if size is None or img.shape[:2] == (int(size[0]), int(size[1])):
        return img
    return cv2.resize(img, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
