"""Build TensorRT engines from ONNX (TensorRT 10 Python API, with the 8.6 differences gated), cached by key.

``backend_config`` (the deploy config's dict, MMDeploy-style)::

    backend_config = dict(
        type="tensorrt",
        common_config=dict(precision="fp16",              # "fp32" | "fp16" | "int8" (int8 needs a Q/DQ ONNX)
                           strongly_typed=False,          # TRT >= 10: types come from the ONNX (fp16 / Q/DQ graph)
                           max_workspace_size="1GiB"),    # int bytes or "512MiB"/"1GiB"/"2GB"
        model_inputs=[dict(input_shapes=dict(             # one entry = one optimisation profile
            image=dict(min_shape=[1, 224, 224, 3], opt_shape=[4, 224, 224, 3], max_shape=[8, 224, 224, 3])))])

``fp16_mode=True`` / ``int8_mode=True`` (MMDeploy's keys) are read too. INT8 goes through explicit quantization
(Q/DQ nodes in the ONNX, e.g. from NVIDIA ModelOpt); the implicit calibrators were deprecated in TensorRT 10.1.

The engine is written to ``<cache_dir>/<key>.engine``, ``key`` = sha256 over (TensorRT version, GPU name and
compute capability, precision, strong typing, sorted profile shapes, ONNX sha256), and re-used when present.
Engines are not portable across TensorRT versions or GPUs: build on the target.

Only the pure-Python parts are tested here; no machine in this project could run TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import re
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from gen3d.runtime.manifest import sha256_file
from gen3d.runtime.trt_backend import TrtEngineError, cuda_check, import_cudart, import_tensorrt

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_WORKSPACE = 1 << 30
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30}
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


class TensorRTBuildError(RuntimeError):
    """The ONNX parser or the builder failed; the message lists the parser errors."""


@dataclass
class BuildSettings:
    """What :func:`parse_backend_config` reads from a ``backend_config``."""

    precision: str = "fp32"
    strongly_typed: bool = False
    workspace: int = DEFAULT_WORKSPACE
    profiles: list[Profile] = field(default_factory=list)


@dataclass
class EngineInfo:
    """A built (or cached) engine.

    Attributes:
        path: The ``.engine`` file.
        key: The cache key (the file's stem).
        precision: ``'fp32'``, ``'fp16'`` or ``'int8'``.
        profiles: Per profile, input name -> ``(min, opt, max)`` shapes.
        trt_version: ``tensorrt.__version__`` of the build.
        device: GPU name and compute capability, e.g. ``'Orin (sm_87)'``.
        strongly_typed: Whether the network was created STRONGLY_TYPED.
        cached: Whether the engine was re-used from the cache.
    """

    path: str
    key: str
    precision: str
    profiles: list[Profile]
    trt_version: str
    device: str
    strongly_typed: bool = False
    cached: bool = False

    def to_manifest(self, bundle_dir: str | None = None) -> dict[str, Any]:
        """The manifest's ``engine`` entry (``file`` relative to ``bundle_dir`` when given)."""
        file = osp.relpath(self.path, bundle_dir) if bundle_dir else osp.basename(self.path)
        profiles = [{n: {"min": list(s[0]), "opt": list(s[1]), "max": list(s[2])} for n, s in p.items()}
                    for p in self.profiles]
        return {"file": file, "precision": self.precision, "profiles": profiles, "cache_key": self.key,
                "tensorrt": self.trt_version, "device": self.device, "strongly_typed": self.strongly_typed}


def parse_workspace(value: int | str | None) -> int:
    """Workspace pool size in bytes from an int or a string such as ``'512MiB'``, ``'1GiB'`` or ``'2GB'``.

    Raises:
        ValueError: Unparseable or not positive.
    """
    if value is None:
        return DEFAULT_WORKSPACE
    if isinstance(value, bool):
        raise ValueError(f"workspace must be a size, got {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"cannot read workspace size {value!r} (e.g. 1073741824, '512MiB', '1GiB')")
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(f"workspace must be positive, got {value!r}")
    return size


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(d, int) and d > 0 for d in value):
        raise ValueError(f"{what} must be a list of positive ints, got {value!r}")
    return tuple(value)


def parse_profiles(model_inputs: list[dict[str, Any]]) -> list[Profile]:
    """Optimisation profiles from ``model_inputs`` (one profile per entry), validated.

    Each input gives ``min_shape``/``opt_shape``/``max_shape`` or a single ``shape`` (static).

    Raises:
        ValueError: Naming the profile and input: missing keys, rank mismatch, or not ``min <= opt <= max``.
    """
    profiles: list[Profile] = []
    for index, entry in enumerate(model_inputs or []):
        shapes = entry.get("input_shapes") if isinstance(entry, dict) else None
        if not shapes:
            raise ValueError(f"model_inputs[{index}] needs a non-empty 'input_shapes' dict")
        profile: Profile = {}
        for name, spec in shapes.items():
            where = f"model_inputs[{index}].input_shapes.{name}"
            if "shape" in spec:
                low = opt = high = _shape(spec["shape"], f"{where}.shape")
            else:
                missing = [k for k in ("min_shape", "opt_shape", "max_shape") if k not in spec]
                if missing:
                    raise ValueError(f"{where} is missing {missing}")
                low, opt, high = (_shape(spec[k], f"{where}.{k}") for k in ("min_shape", "opt_shape", "max_shape"))
            if not len(low) == len(opt) == len(high):
                raise ValueError(f"{where}: min/opt/max ranks differ ({low}, {opt}, {high})")
            if any(not lo <= o <= hi for lo, o, hi in zip(low, opt, high)):
                raise ValueError(f"{where}: need min <= opt <= max per axis, got {low}, {opt}, {high}")
            profile[name] = (low, opt, high)
        profiles.append(profile)
    return profiles


def parse_backend_config(backend_config: dict[str, Any]) -> BuildSettings:
    """Read precision, typing, workspace and profiles from a deploy config's ``backend_config``.

    Raises:
        ValueError: Wrong ``type``, unknown precision, bad workspace or profiles.
    """
    if backend_config.get("type", "tensorrt") != "tensorrt":
        raise ValueError(f"backend_config.type is {backend_config.get('type')!r}, expected 'tensorrt'")
    common = {**backend_config.get("common_config", {}), **{k: v for k, v in backend_config.items()
                                                           if k in ("precision", "strongly_typed")}}
    precision = common.get("precision")
    if precision is None:
        precision = "int8" if common.get("int8_mode") else "fp16" if common.get("fp16_mode") else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    workspace = parse_workspace(common.get("max_workspace_size", common.get("workspace")))
    return BuildSettings(precision, bool(common.get("strongly_typed", False)), workspace,
                         parse_profiles(backend_config.get("model_inputs", [])))


def engine_cache_key(trt_version: str, gpu_name: str, compute_capability: tuple[int, int] | str, precision: str,
                     profiles: list[Profile], onnx_sha256: str, strongly_typed: bool = False) -> str:
    """Hex sha256 identifying an engine build; independent of dict/profile ordering.

    Args:
        trt_version: ``tensorrt.__version__``.
        gpu_name: CUDA device name.
        compute_capability: ``(major, minor)`` or ``'8.7'``.
        precision: ``'fp32'``, ``'fp16'`` or ``'int8'``.
        profiles: From :func:`parse_profiles`.
        onnx_sha256: The ONNX file's sha256.
        strongly_typed: Whether the network is STRONGLY_TYPED.
    """
    cc = compute_capability if isinstance(compute_capability, str) else "{}.{}".format(*compute_capability)
    canonical = sorted(json.dumps({n: [list(s) for s in p[n]] for n in sorted(p)}, sort_keys=True) for p in profiles)
    payload = {"tensorrt": str(trt_version), "gpu": str(gpu_name), "cc": cc, "precision": precision,
               "strongly_typed": bool(strongly_typed), "profiles": canonical, "onnx_sha256": onnx_sha256}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def onnx_has_qdq(onnx_path: str) -> bool:
    """Whether the graph holds QuantizeLinear/DequantizeLinear nodes (explicit quantization)."""
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def cuda_device_identity(device: int = 0) -> tuple[str, tuple[int, int]]:
    """Name and compute capability of a CUDA device, read with cuda.bindings (no torch)."""
    cudart = import_cudart()
    props = cuda_check(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.rstrip("\x00").strip(), (int(props.major), int(props.minor))


def _atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=osp.dirname(path) or ".")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _network_flags(trt: Any, strongly_typed: bool) -> int:
    """EXPLICIT_BATCH on TensorRT < 10 (ignored and deprecated in 10); STRONGLY_TYPED where asked (>= 9)."""
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        if not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            raise TensorRTBuildError(f"TensorRT {trt.__version__} has no STRONGLY_TYPED networks; set "
                                     "strongly_typed=False")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def _build(trt: Any, onnx_path: str, settings: BuildSettings, timing_cache: str | None) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt, settings.strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TensorRTBuildError(f"TensorRT {trt.__version__} cannot parse {onnx_path}:\n  " + "\n  ".join(errors)
                                 + "\nRun gen3d.deploy.trt_ops.lint_onnx_for_tensorrt on it for a per-node report.")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace)
    if not settings.strongly_typed:  # weakly typed: precision flags let TensorRT pick faster kernels
        if settings.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if settings.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ graph: scales come from the ONNX, no calibrator
    inputs = {network.get_input(i).name: tuple(network.get_input(i).shape) for i in range(network.num_inputs)}
    dynamic = sorted(n for n, s in inputs.items() if any(d < 0 for d in s))
    if dynamic and not settings.profiles:
        raise TensorRTBuildError(f"inputs {dynamic} have dynamic axes; give min/opt/max shapes in "
                                 "backend_config.model_inputs")
    for index, profile in enumerate(settings.profiles):
        unknown = sorted(set(profile) - set(inputs))
        missing = sorted(set(dynamic) - set(profile))
        if unknown or missing:
            raise TensorRTBuildError(f"profile {index}: unknown inputs {unknown}, dynamic inputs without shapes "
                                     f"{missing} (network inputs: {inputs})")
        trt_profile = builder.create_optimization_profile()
        for name, (low, opt, high) in profile.items():
            trt_profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(trt_profile)
    if timing_cache:
        data = b""
        if osp.isfile(timing_cache):
            with open(timing_cache, "rb") as f:
                data = f.read()
        config.set_timing_cache(config.create_timing_cache(data), False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTBuildError(f"TensorRT {trt.__version__} failed to build an engine from {onnx_path} (see the "
                                 "log above; try a larger max_workspace_size or fp32)")
    if timing_cache:
        os.makedirs(osp.dirname(osp.abspath(timing_cache)), exist_ok=True)
        _atomic_write(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return bytes(memoryview(plan))


def build_engine(onnx_path: str, backend_config: dict[str, Any], cache_dir: str | None = None,
                 timing_cache: str | None = None) -> EngineInfo:
    """Build (or re-use) a TensorRT engine for ``onnx_path`` on the current GPU.

    Args:
        onnx_path: The ONNX file (external data next to it is resolved by the parser).
        backend_config: See the module docstring.
        cache_dir: Where ``<key>.engine`` lives; default: the ONNX file's folder.
        timing_cache: A timing-cache file, loaded when present and saved after a build (speeds rebuilds).

    Returns:
        The :class:`EngineInfo`; ``cached`` says whether an existing engine was re-used.

    Raises:
        FileNotFoundError: No ONNX file.
        ValueError: Bad ``backend_config``, or int8 without Q/DQ nodes.
        TensorRTNotAvailableError: TensorRT or cuda-bindings are not installed (an ``ImportError``).
        TensorRTBuildError: Parser errors (listed) or a failed build.
    """
    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path} not found")
    settings = parse_backend_config(backend_config)
    if settings.precision == "int8" and not onnx_has_qdq(onnx_path):
        raise ValueError(f"precision 'int8' needs an explicitly quantized (Q/DQ) ONNX; {onnx_path} has no "
                         "QuantizeLinear/DequantizeLinear nodes (quantize it first, e.g. with NVIDIA ModelOpt)")
    trt = import_tensorrt()
    try:
        gpu, cc = cuda_device_identity()
    except TrtEngineError as err:
        raise TensorRTBuildError(f"no usable CUDA device to build on: {err}") from err
    key = engine_cache_key(trt.__version__, gpu, cc, settings.precision, settings.profiles, sha256_file(onnx_path),
                           settings.strongly_typed)
    cache_dir = cache_dir or osp.dirname(osp.abspath(onnx_path))
    path = osp.join(cache_dir, f"{key}.engine")
    info = EngineInfo(path, key, settings.precision, settings.profiles, trt.__version__, f"{gpu} (sm_{cc[0]}{cc[1]})",
                      settings.strongly_typed, cached=osp.isfile(path))
    if not info.cached:
        plan = _build(trt, onnx_path, settings, timing_cache)
        os.makedirs(cache_dir, exist_ok=True)
        _atomic_write(path, plan)
        meta = {**asdict(info), "cached": False, "onnx": osp.abspath(onnx_path)}
        _atomic_write(osp.join(cache_dir, f"{key}.json"), json.dumps(meta, indent=2).encode())
    return info
