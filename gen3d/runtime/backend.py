"""Inference backends for a bundle: onnxruntime here, TensorRT in :mod:`gen3d.runtime.trt_backend` (no torch).

Every backend offers the same small interface (:class:`Backend`): the graph's input and output names, input
dtypes and shapes (``None`` for a dynamic axis), and ``run(feeds) -> outputs`` on numpy arrays. The runtime
(:mod:`gen3d.runtime.anomaly`) only talks to that interface, so both backends give the same results type.
"""

from __future__ import annotations

import importlib.util
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gen3d.runtime.hardware import int8_needs_exact_kernels
from gen3d.runtime.manifest import bundle_file, int8_full_range

BACKENDS = ("auto", "onnxruntime", "tensorrt")
_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32,
               "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


@runtime_checkable
class Backend(Protocol):
    """What the runtime needs from an inference engine.

    Attributes:
        name: ``'onnxruntime'`` or ``'tensorrt'``.
        input_names: Graph inputs, in graph order.
        output_names: Graph outputs, in graph order.
        input_dtypes: numpy dtype of each input.
        input_shapes: Shape of each input; ``None`` (or a string / negative number) marks a dynamic axis.
    """

    name: str
    input_names: list[str]
    output_names: list[str]
    input_dtypes: dict[str, np.dtype]
    input_shapes: dict[str, tuple]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` (name -> array) and return every output by name."""
        ...


def keep_caches_under(out_dir: str) -> str | None:
    """Send ONNX Runtime's own files (its device id and telemetry database) under ``out_dir/.cache``.

    ``import onnxruntime`` writes ``$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime/`` (``~/.cache`` when
    unset), which fails or leaves files behind on a read-only edge file system. Called by the runtime's command line
    before onnxruntime is imported, so the run writes nothing outside the output folder. A ``XDG_CACHE_HOME`` the
    user set is respected; in-process callers can call this first.

    Returns:
        The cache folder chosen, or ``None`` when left as it was (already set, or onnxruntime already imported).
    """
    import os
    import sys

    if os.environ.get("XDG_CACHE_HOME") or "onnxruntime" in sys.modules:
        return None
    folder = osp.join(osp.abspath(out_dir), ".cache")
    os.makedirs(folder, exist_ok=True)  # made here: onnxruntime does not write its files on every platform
    os.environ["XDG_CACHE_HOME"] = folder
    return folder


def manifest_defaults(manifest: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """``{input: array}`` for the manifest inputs that give a ``default`` (thresholds, ``truncation_psi``).

    Defaults live in the manifest, not in the graph: an ONNX initializer default is turned into a constant by
    onnx-tensorrt, so an engine built from such a file would ignore the fed value.
    """
    defaults = {}
    for entry in (manifest or {}).get("inputs", []):
        if "default" in entry:
            defaults[entry["name"]] = np.asarray(entry["default"], dtype=np.dtype(entry.get("dtype", "float32")))
    return defaults


def check_feeds(backend: str, feeds: dict[str, Any], inputs: Sequence[str], defaults: dict[str, Any]) -> None:
    """Raise ``KeyError`` for a feed the graph cannot take or a graph input that is neither fed nor defaulted.

    A feed the graph lacks is an error, never dropped: it is how a threshold baked into an engine as a constant
    would otherwise be ignored without a word.
    """
    unknown = [k for k in feeds if k not in inputs]
    if unknown:
        raise KeyError(f"{backend}: the graph has no input {unknown} (graph inputs: {list(inputs)}); a value that "
                       "the graph cannot take is refused rather than ignored (an engine built from a file whose "
                       "input had an ONNX default holds it as a constant: rebuild it from the bundle's model.onnx)")
    missing = [n for n in inputs if n not in feeds and n not in defaults]
    if missing:
        raise KeyError(f"{backend}: missing inputs {missing} (graph inputs: {list(inputs)}; no manifest default)")


def static_dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    """A shape with every dynamic axis (string, ``None``, negative or zero) replaced by ``None``."""
    return tuple(d if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape)


SPIN_KEY, SPIN_DURATION_KEY = "session.intra_op.allow_spinning", "session.intra_op.spin_duration_us"


def with_spin(session_config: dict[str, Any], spin: bool | int | None) -> dict[str, Any]:
    """A copy of onnxruntime session entries with a pool-thread spin choice applied (:class:`OrtBackend`'s ``spin``).

    ``True``: spin, unbounded (a bounded duration from the bundle's hints is dropped), ``False``: sleep, an ``int``
    N > 0: spin N microseconds after the work, then sleep, ``None``: the entries unchanged (the bundle's hint).

    Raises:
        ValueError: A duration that is not a positive number of microseconds.
    """
    out = dict(session_config)
    if spin is None:
        return out
    if isinstance(spin, bool):
        out.pop(SPIN_DURATION_KEY, None)
        out[SPIN_KEY] = "1" if spin else "0"
        return out
    if int(spin) <= 0:
        raise ValueError(f"spin duration must be a positive number of microseconds, got {spin}")
    out.update({SPIN_KEY: "1", SPIN_DURATION_KEY: str(int(spin))})
    return out


class OrtBackend:
    """onnxruntime session over ``model.onnx``.

    Args:
        onnx_path: The graph file.
        threads: ``intra_op_num_threads`` (``None``: onnxruntime's default, one per core).
        spin: Idle pool threads between operators: ``True`` spin (``session.intra_op.allow_spinning``),
            ``False`` sleep, an ``int`` N spin for N microseconds after their work and then sleep
            (``session.intra_op.spin_duration_us``, ONNX Runtime >= 1.20), ``None``: the bundle's hint.
            Spinning is faster when the cores are the model's alone and slower when another process shares them;
            a bounded spin costs no more CPU than sleeping when frames arrive with gaps, where unbounded spinning
            burns the gaps too (``deploy/README.md``, "CPU threads").
        providers: Execution providers in order of preference. Default: CUDA if this onnxruntime build has it,
            then CPU. The TensorRT execution provider is opt-in (pass it here): it builds an engine each time a
            session starts; bundles carry a prebuilt engine for :class:`~gen3d.runtime.trt_backend.TrtBackend`.
        defaults: ``{input: array}`` fed when ``run`` is not given that input (the manifest's defaults,
            :func:`manifest_defaults`).
        exact_int8: Graph optimisation at the basic level: an int8 Q/DQ file runs each Q/DQ pair as written
            (simulated quantisation) instead of fused int8 kernels, which saturate full-range weights on x86 CPUs
            without VNNI (:func:`~gen3d.runtime.hardware.int8_needs_exact_kernels`). Exact everywhere, and slower.

    Raises:
        RuntimeError: onnxruntime is not installed or cannot load the graph (names the file).
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str, threads: int | None = None, providers: Sequence[str] | None = None,
                 hints: dict[str, Any] | None = None, spin: bool | int | None = None,
                 defaults: dict[str, np.ndarray] | None = None, exact_int8: bool = False) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise RuntimeError("onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu)") from err
        available = ort.get_available_providers()
        if providers is None:
            providers = [p for p in ("CUDAExecutionProvider",) if p in available] + ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in available]
        if missing:
            raise RuntimeError(f"onnxruntime providers {missing} are not available here (available: {available})")
        options = ort.SessionOptions()
        level = "ORT_ENABLE_BASIC" if exact_int8 else "ORT_ENABLE_ALL"  # the int8 fusions are 'extended'
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.log_severity_level = 3  # older bundles' inputs with initializer defaults trigger a harmless warning
        # Session hints measured at export (manifest 'runtime_hints'): e.g. no thread spinning, which doubled the
        # latency when another process shared the cores, and kernels that were slower on this CPU class.
        hints = hints or {}
        session_config = with_spin(hints.get("session_config") or {}, spin)
        for key, value in session_config.items():
            options.add_session_config_entry(str(key), str(value))
        if threads or hints.get("intra_op_num_threads"):
            options.intra_op_num_threads = int(threads or hints["intra_op_num_threads"])
        try:
            self.session = ort.InferenceSession(onnx_path, sess_options=options, providers=list(providers),
                                                disabled_optimizers=list(hints.get("disabled_optimizers") or []))
        except Exception as err:  # onnxruntime raises its own exception types
            raise RuntimeError(f"onnxruntime cannot load {onnx_path}: {err}") from err
        # Bundles written before December 2026 kept input defaults as initializers of the same name: those are
        # overridable initializers, not in get_inputs(), and are inputs here too (a feed overrides them).
        inputs = [*self.session.get_inputs(), *self.session.get_overridable_initializers()]
        outputs = self.session.get_outputs()
        self.providers = self.session.get_providers()
        self.exact_int8 = exact_int8
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in outputs]
        self.input_dtypes = {i.name: np.dtype(_ORT_DTYPES.get(i.type, np.float32)) for i in inputs}
        self.input_shapes = {i.name: static_dims(i.shape) for i in inputs}
        initialised = {i.name for i in self.session.get_overridable_initializers()}
        self.defaults = {k: v for k, v in (defaults or {}).items() if k in self.input_names}
        self._optional = initialised | set(self.defaults)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph; an input not fed takes its default (the manifest's, or an older file's initializer).

        Args:
            feeds: Input name -> array.

        Returns:
            Output name -> array, for every graph output.

        Raises:
            KeyError: A feed the graph has no input for, or an input neither fed nor defaulted.
        """
        check_feeds(self.name, feeds, self.input_names, dict.fromkeys(self._optional))
        used = {**{k: v for k, v in self.defaults.items() if k not in feeds}, **feeds}
        return dict(zip(self.output_names, self.session.run(self.output_names, used)))


def tensorrt_available() -> bool:
    """Whether the ``tensorrt`` Python package can be found (without importing it)."""
    return importlib.util.find_spec("tensorrt") is not None


def _engine_path(bundle_dir: str, manifest: dict[str, Any]) -> str | None:
    engine = manifest.get("engine") or {}
    path = bundle_file(bundle_dir, engine["file"], "engine.file") if engine.get("file") else None
    return path if path and osp.isfile(path) else None


def _make_trt(bundle_dir: str, manifest: dict[str, Any]) -> Backend:
    engine = _engine_path(bundle_dir, manifest)
    problems = []
    if not tensorrt_available():
        problems.append("the tensorrt Python package is not installed (on Jetson: the JetPack python3-libnvinfer "
                        "bindings; on x86: pip install tensorrt)")
    if engine is None:
        declared = (manifest.get("engine") or {}).get("file")
        problems.append(f"the bundle {bundle_dir} has no TensorRT engine" + (
            f" ({declared} is declared but missing)" if declared else " (manifest 'engine' is empty)")
            + "; build one on the target with tools/deploy.py")
    if problems:
        raise RuntimeError("backend 'tensorrt' cannot run: " + "; ".join(problems)
                           + ". Use backend='onnxruntime' (or 'auto') instead.")
    try:
        from gen3d.runtime.trt_backend import TrtBackend

        return TrtBackend(engine, manifest)
    except ImportError as err:  # e.g. pip's tensorrt stub package, or cuda-bindings missing
        raise RuntimeError(f"backend 'tensorrt' cannot run: {err}") from err


def make_backend(backend: str, bundle_dir: str, manifest: dict[str, Any], threads: int | None = None,
                 spin: bool | int | None = None) -> Backend:
    """Open the bundle's graph with the backend asked for.

    Args:
        backend: ``'onnxruntime'``, ``'tensorrt'`` (the bundle's engine; needs TensorRT and a GPU) or ``'auto'``
            (TensorRT when the bundle has an engine and TensorRT is installed, else onnxruntime; a TensorRT
            engine that fails to load falls back to onnxruntime with a warning).
        bundle_dir: The bundle folder.
        manifest: Its manifest (:func:`~gen3d.runtime.manifest.load_manifest`).
        threads: CPU threads for onnxruntime.
        spin: onnxruntime thread spinning (:class:`OrtBackend`: on, off or microseconds); ``None``: the bundle's hint.

    Returns:
        A :class:`Backend`.

    Raises:
        ValueError: Unknown backend name.
        RuntimeError: The backend asked for cannot run here; says why and what to do.
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {BACKENDS}")
    if backend == "tensorrt" or (backend == "auto" and tensorrt_available()
                                 and _engine_path(bundle_dir, manifest) is not None):
        try:
            return _make_trt(bundle_dir, manifest)
        except Exception as err:
            if backend == "tensorrt":
                raise
            warnings.warn(f"TensorRT engine not usable ({err}); falling back to onnxruntime", stacklevel=2)
    hints = (manifest.get("runtime_hints") or {}).get("onnxruntime")
    path = bundle_file(bundle_dir, manifest["onnx"]["file"], "onnx.file")
    exact = int8_needs_exact_kernels(int8_full_range(manifest))
    if exact:
        warnings.warn(f"{path}: full-range int8 weights on an x86 CPU without VNNI, whose fused int8 kernels saturate "
                      "them; running its Q/DQ pairs as written instead (exact, slower). Re-export with the ONNX "
                      "Runtime int8 deploy config (quantization.reduce_range=True) for int8 speed here", stacklevel=2)
    return OrtBackend(path, threads, hints=hints, spin=spin, defaults=manifest_defaults(manifest), exact_int8=exact)
