"""TensorRT engine runner on the named-tensor API (TensorRT 8.6, 10.x and 11.x; no torch).

Device memory and the stream come from a CUDA runtime binding (:func:`import_cudart`): ``cuda.bindings.runtime``
(the ``cuda-bindings`` package) when it imports and the driver is new enough for it, else a ctypes binding of the
CUDA runtime library already on the machine (JetPack's ``/usr/local/cuda/lib64/libcudart.so.12``, a CUDA toolkit,
or the ``nvidia-cuda-runtime`` wheel that TensorRT's pip wheels pull in). Why: cuda-bindings 13.x (what pip and
torch bring today) needs a CUDA 13 driver (R580+; NVIDIA/cutlass#2866), JetPack 6's driver is CUDA 12.x (R36/540),
and pip's cuda-python fails there with ``cudaErrorInsufficientDriver`` (NVlabs/FoundationStereo#209, AGX Orin,
JetPack 6.1); cuda-bindings 12.9 needs Python >= 3.11 (its install page) while JetPack 6 has 3.10.
``GEN3D_CUDA_BINDING=cuda-bindings|ctypes`` forces one; ``GEN3D_CUDART=/path/libcudart.so`` names the library.
TensorRT and CUDA are imported when a :class:`TrtBackend` is created, so this module imports anywhere. The
interface matches :class:`gen3d.runtime.backend.OrtBackend`: feeds by name, numpy in and out.

Not verified here: no machine in this project could install TensorRT; the code follows the TensorRT 10 Python API
documentation (``execute_async_v3``, ``set_input_shape``, ``set_tensor_address``), which TensorRT 8.6 also has.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import glob
import os
import os.path as osp
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gen3d.runtime.backend import check_feeds, manifest_defaults

ORT_ALTERNATIVE = "gen3d.runtime.backend.OrtBackend (onnxruntime) with the bundle's model.onnx"


class TensorRTNotAvailableError(ImportError):
    """The ``tensorrt`` (or ``cuda-bindings``) Python package cannot be imported."""


class TrtEngineError(RuntimeError):
    """An engine cannot be loaded or run (version/GPU mismatch, shapes outside the profile, CUDA errors)."""


def import_tensorrt() -> Any:
    """Import ``tensorrt`` or raise :class:`TensorRTNotAvailableError` saying what to install or use instead."""
    try:
        import tensorrt

        tensorrt.Runtime  # noqa: B018  (pip's "tensorrt" stub package has no API)
    except (ImportError, AttributeError) as err:
        raise TensorRTNotAvailableError(
            "TensorRT is not installed (no usable `tensorrt` Python package). On Jetson use JetPack's "
            "python3-libnvinfer in a venv made with --system-site-packages; on x86 `pip install tensorrt`. "
            f"Without TensorRT use {ORT_ALTERNATIVE}.") from err
    return tensorrt


class _CtypesCudart:
    """The few CUDA runtime calls that :class:`TrtBackend` makes, through ctypes.

    Each returns an ``(err, *values)`` tuple as ``cuda.bindings.runtime`` does (error codes and enum values from the
    CUDA runtime API reference).
    """

    cudaError_t = enum.IntEnum("cudaError_t", {"cudaSuccess": 0, "cudaErrorInsufficientDriver": 35,
                                               "cudaErrorNoDevice": 100})
    cudaMemcpyKind = enum.IntEnum("cudaMemcpyKind", {"cudaMemcpyHostToDevice": 1, "cudaMemcpyDeviceToHost": 2})

    def __init__(self, path: str) -> None:
        self.path, self.lib = path, ctypes.CDLL(path)
        self.lib.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                             ctypes.c_void_p]
        for name in ("cudaFree", "cudaStreamSynchronize", "cudaStreamDestroy"):
            getattr(self.lib, name).argtypes = [ctypes.c_void_p]

    def _err(self, code: int) -> Any:
        try:
            return self.cudaError_t(code)
        except ValueError:
            return code

    def cudaMalloc(self, nbytes: int) -> tuple:  # noqa: N802 - the CUDA name
        ptr = ctypes.c_void_p()
        return self._err(self.lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(nbytes))), int(ptr.value or 0)

    def cudaFree(self, ptr: int) -> tuple:  # noqa: N802
        return (self._err(self.lib.cudaFree(ptr)),)

    def cudaMemcpyAsync(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> tuple:  # noqa: N802
        return (self._err(self.lib.cudaMemcpyAsync(dst, src, nbytes, int(kind), int(stream) or None)),)

    def cudaStreamCreate(self) -> tuple:  # noqa: N802
        stream = ctypes.c_void_p()
        return self._err(self.lib.cudaStreamCreate(ctypes.byref(stream))), int(stream.value or 0)

    def cudaStreamSynchronize(self, stream: int) -> tuple:  # noqa: N802
        return (self._err(self.lib.cudaStreamSynchronize(int(stream) or None)),)

    def cudaStreamDestroy(self, stream: int) -> tuple:  # noqa: N802
        return (self._err(self.lib.cudaStreamDestroy(int(stream) or None)),)

    def cudaGetDeviceProperties(self, device: int) -> tuple:  # noqa: N802
        """Name and compute capability only.

        The name is ``cudaDeviceProp.name``, the struct's first field (char[256]); the capability comes from
        attributes 75/76 (cudaDevAttrComputeCapabilityMajor/Minor).
        """
        buf = ctypes.create_string_buffer(8192)  # larger than any cudaDeviceProp so far (about 1 kB in CUDA 12)
        get = getattr(self.lib, "cudaGetDeviceProperties_v2", None) or self.lib.cudaGetDeviceProperties
        err = get(buf, int(device))
        values = []
        for attr in (75, 76):
            value = ctypes.c_int()
            err = err or self.lib.cudaDeviceGetAttribute(ctypes.byref(value), attr, int(device))
            values.append(value.value)
        name = buf.raw[:256].split(b"\0", 1)[0]
        return self._err(err), type("cudaDeviceProp", (), {"name": name, "major": values[0], "minor": values[1]})


def _cudart_candidates() -> list[str]:
    """Where a CUDA runtime library may be: $GEN3D_CUDART, the loader's search, the CUDA toolkit, pip's wheels."""
    found = [os.environ["GEN3D_CUDART"]] if os.environ.get("GEN3D_CUDART") else []
    found += [n for n in (ctypes.util.find_library("cudart"),) if n]
    roots = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/aarch64-linux/lib", "/usr/lib/aarch64-linux-gnu",
             "/usr/lib/x86_64-linux-gnu"]
    roots += [osp.join(p, "nvidia", sub, "lib") for p in sys.path if p.endswith("site-packages")
              for sub in ("cuda_runtime", "cu13", "cu12")]
    for root in roots:
        found += sorted(glob.glob(osp.join(root, "libcudart.so*")), reverse=True)
    return list(dict.fromkeys(found))


def _cuda_bindings_runtime() -> tuple[Any, str]:
    """``(cuda.bindings.runtime, '')``, or ``(None, why not)`` when missing or newer than the driver."""
    try:
        from cuda.bindings import runtime
    except ImportError as err:
        return None, f"cuda-bindings not importable ({err})"
    _, driver = runtime.cudaDriverGetVersion()
    _, built = runtime.cudaRuntimeGetVersion()
    if int(driver) // 1000 < int(built) // 1000:
        return None, (f"cuda-bindings is built for CUDA {int(built) // 1000}.{int(built) % 1000 // 10}, the driver "
                      f"supports {'no CUDA (no driver)' if not driver else f'CUDA {int(driver) // 1000}.x'}")
    return runtime, ""


def import_cudart() -> Any:
    """A CUDA runtime binding: ``cuda.bindings.runtime`` where usable, else :class:`_CtypesCudart` (module docs).

    Raises:
        TensorRTNotAvailableError: Neither works; the message says why for each and what to install.
    """
    force = os.environ.get("GEN3D_CUDA_BINDING", "")
    reasons = []
    if force != "ctypes":
        runtime, why = _cuda_bindings_runtime()
        if runtime is not None:
            return runtime
        reasons.append(why)
    if force != "cuda-bindings":
        for path in _cudart_candidates():
            try:
                return _CtypesCudart(path)
            except OSError as err:
                reasons.append(f"{path}: {err}")
        reasons.append("no libcudart.so found (CUDA toolkit / JetPack / nvidia-cuda-runtime wheel)")
    raise TensorRTNotAvailableError(
        "TrtBackend needs a CUDA runtime for device memory: " + "; ".join(reasons) + ". On JetPack 6 the system "
        "libcudart (/usr/local/cuda) is used, or `pip install 'cuda-bindings>=12.6,<13'`; on a CUDA 13 driver "
        f"`pip install cuda-bindings`. Without a GPU use {ORT_ALTERNATIVE}.")


def cuda_check(cudart: Any, result: tuple, what: str) -> Any:
    """Unpack a ``cuda.bindings`` result tuple ``(err, *values)``; raise :class:`TrtEngineError` on an error."""
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise TrtEngineError(f"CUDA error in {what}: {err}")
    return values[0] if len(values) == 1 else (values or None)


def check_shape_in_profile(name: str, shape: Sequence[int], low: Sequence[int], high: Sequence[int]) -> None:
    """Raise :class:`TrtEngineError` unless ``low <= shape <= high`` element-wise (same rank).

    Args:
        name: Input name (for the message).
        shape: The fed array's shape.
        low: The profile's min shape.
        high: The profile's max shape.
    """
    shape, low, high = tuple(shape), tuple(low), tuple(high)
    if len(shape) != len(low) or any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
        raise TrtEngineError(f"input {name!r} has shape {shape}, outside the engine's optimisation profile "
                             f"min {low} .. max {high}; resize the input or rebuild the engine with a wider profile")


def coerce_feed(name: str, array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Return ``array`` as a C-contiguous array of the engine's ``dtype``.

    Safe conversions only: int64 -> int32 (TensorRT 8.6 stores INT64 I/O as INT32) when the values fit, and
    float64 -> float32. Anything else that differs raises ``TypeError``.
    """
    array = np.asarray(array)
    dtype = np.dtype(dtype)
    if array.dtype != dtype:
        if array.dtype == np.int64 and dtype == np.int32:
            info = np.iinfo(np.int32)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise TypeError(f"input {name!r}: int64 values do not fit the engine's int32")
        elif not (array.dtype == np.float64 and dtype == np.float32):
            raise TypeError(f"input {name!r} is {array.dtype}, the engine expects {dtype}")
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


class _DeviceBuffer:
    """A device allocation that grows when asked for more bytes (never shrinks)."""

    def __init__(self, cudart: Any) -> None:
        self.cudart, self.ptr, self.nbytes = cudart, 0, 0

    def ensure(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(cuda_check(self.cudart, self.cudart.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            self.cudart.cudaFree(self.ptr)
            self.ptr, self.nbytes = 0, 0


class TrtBackend:
    """Run a serialized TensorRT engine.

    Args:
        engine_path: The ``.engine`` / ``.plan`` file (built for this TensorRT version and GPU).
        manifest: The bundle manifest; inputs it lists with a ``default`` are fed from it when not given.

    Attributes:
        name: ``'tensorrt'``.
        input_names: Engine inputs, in engine order.
        output_names: Engine outputs, in engine order.
        input_dtypes: numpy dtype of each input.
        input_shapes: Shape of each input; ``None`` marks a dynamic axis.

    Raises:
        FileNotFoundError: No engine file.
        TensorRTNotAvailableError: TensorRT or cuda-bindings missing (an ``ImportError``).
        TrtEngineError: The engine was built with another TensorRT version or for another GPU.
    """

    name = "tensorrt"

    def __init__(self, engine_path: str, manifest: dict[str, Any] | None = None) -> None:
        if not osp.isfile(engine_path):
            raise FileNotFoundError(f"TensorRT engine {engine_path} not found; build it on this device "
                                    "(tools/deploy.py with a tensorrt deploy config, or trtexec)")
        trt = import_tensorrt()
        self.cudart = import_cudart()
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        with open(engine_path, "rb") as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            built = ((manifest or {}).get("versions") or {}).get("tensorrt")
            raise TrtEngineError(
                f"TensorRT {trt.__version__} cannot deserialize {engine_path}: it was built with another TensorRT "
                f"version{f' ({built})' if built else ''} or for another GPU. Engines are not portable: rebuild it "
                "on the target from the bundle's model.onnx.")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise TrtEngineError(f"cannot create an execution context for {engine_path} (out of device memory?)")
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self._dtypes: dict[str, np.dtype] = {}
        for i in range(self.engine.num_io_tensors):
            tname = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT
            (self.input_names if is_input else self.output_names).append(tname)
            self._dtypes[tname] = np.dtype(trt.nptype(self.engine.get_tensor_dtype(tname)))
        self.input_dtypes = {n: self._dtypes[n] for n in self.input_names}
        self.input_shapes = {n: tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(n))
                             for n in self.input_names}
        self.defaults = {k: v for k, v in manifest_defaults(manifest).items() if k in self.input_names}
        self.stream = cuda_check(self.cudart, self.cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._buffers = {n: _DeviceBuffer(self.cudart) for n in self._dtypes}
        self._profile = 0

    def _profiles(self, name: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        return [tuple(tuple(s) for s in self.engine.get_tensor_profile_shape(name, p))[::2]
                for p in range(self.engine.num_optimization_profiles)]

    def _select_profile(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Pick the first optimisation profile that holds every input shape, or raise naming the input."""
        dynamic = [n for n in self.input_names if None in self.input_shapes[n]]
        for index in range(self.engine.num_optimization_profiles):
            try:
                for n in dynamic:
                    low, high = self._profiles(n)[index]
                    check_shape_in_profile(n, shapes[n], low, high)
            except TrtEngineError:
                continue
            if index != self._profile:
                self.context.set_optimization_profile_async(index, int(self.stream))  # the handle execute_async_v3 gets
                self._profile = index
            return
        for n in dynamic:  # no profile fits: report against profile 0 (the usual single profile)
            check_shape_in_profile(n, shapes[n], *self._profiles(n)[0])
        raise TrtEngineError(f"no optimisation profile holds the input shapes {shapes} together")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine; a feed the engine has no input for is an error (see :func:`check_feeds`).

        Args:
            feeds: Input name -> array. Inputs with a manifest ``default`` may be left out.

        Returns:
            Output name -> array (host copies), for every engine output.
        """
        cudart, kind = self.cudart, self.cudart.cudaMemcpyKind
        check_feeds(self.name, feeds, self.input_names, self.defaults)
        arrays = {}
        for n in self.input_names:
            arrays[n] = coerce_feed(n, feeds[n] if n in feeds else self.defaults[n], self._dtypes[n])
        for n in self.input_names:
            static = self.input_shapes[n]
            if None not in static and arrays[n].shape != static:
                raise TrtEngineError(f"input {n!r} has shape {arrays[n].shape}, the engine is static {static}")
        self._select_profile({n: a.shape for n, a in arrays.items()})
        for n, array in arrays.items():
            if not self.context.set_input_shape(n, array.shape):
                raise TrtEngineError(f"set_input_shape({n!r}, {array.shape}) was rejected by TensorRT")
            ptr = self._buffers[n].ensure(array.nbytes)
            cuda_check(cudart, cudart.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes,
                                                      kind.cudaMemcpyHostToDevice, self.stream), "H2D copy")
            self.context.set_tensor_address(n, ptr)
        outputs = {}
        for n in self.output_names:
            shape = tuple(self.context.get_tensor_shape(n))
            if any(d < 0 for d in shape):
                raise TrtEngineError(f"output {n!r} has a data-dependent shape {shape}; TrtBackend has no "
                                     "IOutputAllocator (export the model without NonZero-like ops)")
            outputs[n] = np.empty(shape, dtype=self._dtypes[n])
            self.context.set_tensor_address(n, self._buffers[n].ensure(outputs[n].nbytes))
        if not self.context.execute_async_v3(int(self.stream)):
            raise TrtEngineError("execute_async_v3 failed (see the TensorRT log above)")
        for n, out in outputs.items():
            cuda_check(cudart, cudart.cudaMemcpyAsync(out.ctypes.data, self._buffers[n].ptr, out.nbytes,
                                                      kind.cudaMemcpyDeviceToHost, self.stream), "D2H copy")
        cuda_check(cudart, cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return outputs

    def close(self) -> None:
        """Free device buffers and the stream (also done when the object is collected)."""
        for buffer in getattr(self, "_buffers", {}).values():
            buffer.free()
        if getattr(self, "stream", None) is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
