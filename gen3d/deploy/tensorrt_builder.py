"""Build TensorRT engines from ONNX on TensorRT 10 (Jetson) and 11 (servers), cached by key.

``backend_config`` (the deploy config's dict, MMDeploy-style)::

    backend_config = dict(
        type="tensorrt",
        common_config=dict(precision="fp16",              # "fp32" | "fp16" | "int8" (int8 needs a Q/DQ ONNX)
                           strongly_typed=False,          # TRT 10: weak FP16/INT8 flags (False) or types from the
                                                          # ONNX (True); TRT 11: always strongly typed
                           fp16_converter="auto",         # strongly typed fp16: see gen3d.deploy.fp16_convert
                           max_workspace_size="1GiB"),    # int bytes or "512MiB"/"1GiB"/"2GB"
        timing_cache=None,                                # a timing-cache file (tools/deploy.py sets one)
        model_inputs=[dict(input_shapes=dict(             # one entry = one optimisation profile
            image=dict(min_shape=[1, 224, 224, 3], opt_shape=[4, 224, 224, 3], max_shape=[8, 224, 224, 3])))])

The installed major version picks the path (:mod:`gen3d.deploy.tensorrt_api`): on 11 every network is strongly
typed, so an fp16 build parses an fp16 copy of the ONNX (``<stem>_fp16.onnx`` next to the engine, converted by
:func:`gen3d.deploy.fp16_convert.convert_to_fp16` unless the file is already fp16) and int8 the Q/DQ file; on 10 the
config chooses between the weak flags and that same strongly typed path. ``fp16_mode=True`` / ``int8_mode=True``
(MMDeploy's keys) are read too. INT8 goes through explicit quantization (Q/DQ nodes, e.g. from NVIDIA ModelOpt);
the implicit calibrators were deprecated in TensorRT 10.1 and removed in 11.

The engine is written to ``<cache_dir>/<key>.engine``, ``key`` = sha256 over everything that changes the engine:
TensorRT version, GPU name and compute capability, precision, strong typing, workspace size, sorted profile shapes
and the sha256 of the ONNX file actually parsed (the fp16 copy where converted); re-used when present.
Engines are not portable across TensorRT versions or GPUs: build on the target.

Only the pure-Python parts run here (with the stand-in modules of ``tests/helpers/fake_tensorrt.py``); no machine
in this project could run TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from gen3d.runtime.manifest import sha256_file
from gen3d.runtime.trt_backend import TrtEngineError, cuda_check, import_cudart, import_tensorrt

from .tensorrt_api import TensorRTBuildError, atomic_write, build_plan, resolve_strong_typing, trt_major

__all__ = ["DEFAULT_WORKSPACE", "PRECISIONS", "BuildSettings", "EngineInfo", "TensorRTBuildError", "build_engine",
           "cuda_device_identity", "engine_cache_key", "onnx_has_qdq", "parse_backend_config", "parse_profiles",
           "parse_workspace", "prepare_onnx"]

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_WORKSPACE = 1 << 30
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30}
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


@dataclass
class BuildSettings:
    """What :func:`parse_backend_config` reads from a ``backend_config``."""

    precision: str = "fp32"
    strongly_typed: bool | None = None  # None: not given (weak on TensorRT 10, strong on 11)
    workspace: int = DEFAULT_WORKSPACE
    profiles: list[Profile] = field(default_factory=list)
    fp16_converter: str = "auto"
    timing_cache: str | None = None


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
        strongly_typed: Whether the network was strongly typed (always on TensorRT 11).
        cached: Whether the engine was re-used from the cache.
        workspace: Workspace pool limit in bytes.
        built_from: The ONNX file parsed (the fp16 copy where converted) and its sha256.
        timing_cache: The timing-cache file used, or None.
    """

    path: str
    key: str
    precision: str
    profiles: list[Profile]
    trt_version: str
    device: str
    strongly_typed: bool = False
    cached: bool = False
    workspace: int = DEFAULT_WORKSPACE
    built_from: dict[str, Any] | None = None
    timing_cache: str | None = None

    def to_manifest(self, bundle_dir: str | None = None) -> dict[str, Any]:
        """The manifest's ``engine`` entry (``file`` relative to ``bundle_dir`` when given)."""
        file = osp.relpath(self.path, bundle_dir) if bundle_dir else osp.basename(self.path)
        profiles = [{n: {"min": list(s[0]), "opt": list(s[1]), "max": list(s[2])} for n, s in p.items()}
                    for p in self.profiles]
        def rel(path: str | None) -> str | None:  # inside the bundle: relative (the bundle may move)
            inside = path and bundle_dir and osp.abspath(path).startswith(osp.abspath(bundle_dir) + os.sep)
            return osp.relpath(path, bundle_dir) if inside else path

        built = dict(self.built_from or {})
        if built.get("file"):
            built["file"] = rel(built["file"])
        return {"file": file, "precision": self.precision, "profiles": profiles, "cache_key": self.key,
                "tensorrt": self.trt_version, "device": self.device, "strongly_typed": self.strongly_typed,
                "workspace": self.workspace, "built_from": built or None, "timing_cache": rel(self.timing_cache)}


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
                                                           if k in ("precision", "strongly_typed", "fp16_converter")}}
    precision = common.get("precision")
    if precision is None:
        precision = "int8" if common.get("int8_mode") else "fp16" if common.get("fp16_mode") else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    workspace = parse_workspace(common.get("max_workspace_size", common.get("workspace")))
    typed = common.get("strongly_typed")
    timing = backend_config.get("timing_cache", common.get("timing_cache"))
    return BuildSettings(precision, None if typed is None else bool(typed), workspace,
                         parse_profiles(backend_config.get("model_inputs", [])),
                         str(common.get("fp16_converter", "auto")), str(timing) if timing else None)


def engine_cache_key(trt_version: str, gpu_name: str, compute_capability: tuple[int, int] | str, precision: str,
                     profiles: list[Profile], onnx_sha256: str, strongly_typed: bool = False,
                     workspace: int = DEFAULT_WORKSPACE) -> str:
    """Hex sha256 identifying an engine build; independent of dict/profile ordering.

    Args:
        trt_version: ``tensorrt.__version__``.
        gpu_name: CUDA device name.
        compute_capability: ``(major, minor)`` or ``'8.7'``.
        precision: ``'fp32'``, ``'fp16'`` or ``'int8'``.
        profiles: From :func:`parse_profiles`.
        onnx_sha256: The sha256 of the ONNX file parsed (the fp16 copy where converted).
        strongly_typed: Whether the network is strongly typed.
        workspace: Workspace pool limit in bytes (a smaller pool can rule tactics out).
    """
    cc = compute_capability if isinstance(compute_capability, str) else "{}.{}".format(*compute_capability)
    canonical = sorted(json.dumps({n: [list(s) for s in p[n]] for n in sorted(p)}, sort_keys=True) for p in profiles)
    payload = {"tensorrt": str(trt_version), "gpu": str(gpu_name), "cc": cc, "precision": precision,
               "strongly_typed": bool(strongly_typed), "profiles": canonical, "onnx_sha256": onnx_sha256,
               "workspace": int(workspace)}
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


def prepare_onnx(onnx_path: str, precision: str, strongly_typed: bool, out_dir: str, converter: str = "auto"
                 ) -> tuple[str, dict[str, Any] | None]:
    """The file to parse: ``onnx_path`` itself, or for a strongly typed fp16 build its fp16 copy in ``out_dir``.

    Returns:
        ``(path, conversion)``; ``conversion`` is :func:`~gen3d.deploy.fp16_convert.convert_to_fp16`'s record, or
        None when no conversion was needed (fp32, int8 Q/DQ, weak typing, or a file that already is fp16).

    Raises:
        Fp16ConverterNotAvailableError: No converter installed (an ``ImportError`` saying what to install).
    """
    if not (strongly_typed and precision == "fp16"):
        return onnx_path, None
    from .fp16_convert import convert_to_fp16, is_fp16_graph

    if is_fp16_graph(onnx_path):
        return onnx_path, None
    out = osp.join(out_dir, f"{osp.splitext(osp.basename(onnx_path))[0]}_fp16.onnx")
    return out, convert_to_fp16(onnx_path, out, converter=converter)


def build_engine(onnx_path: str, backend_config: dict[str, Any], cache_dir: str | None = None,
                 timing_cache: str | None = None) -> EngineInfo:
    """Build (or re-use) a TensorRT engine for ``onnx_path`` on the current GPU.

    Args:
        onnx_path: The ONNX file (external data next to it is resolved by the parser).
        backend_config: See the module docstring.
        cache_dir: Where ``<key>.engine`` lives; default: the ONNX file's folder.
        timing_cache: A timing-cache file, loaded when present and saved after a build (speeds rebuilds);
            default ``backend_config['timing_cache']``.

    Returns:
        The :class:`EngineInfo`; ``cached`` says whether an existing engine was re-used.

    Raises:
        FileNotFoundError: No ONNX file.
        ValueError: Bad ``backend_config``, or int8 without Q/DQ nodes.
        TensorRTNotAvailableError: TensorRT or a CUDA runtime binding is not installed (an ``ImportError``).
        Fp16ConverterNotAvailableError: A strongly typed fp16 build without an fp16 converter (an ``ImportError``).
        TensorRTBuildError: Parser errors (listed) or a failed build.
    """
    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path} not found")
    settings = parse_backend_config(backend_config)
    if settings.precision == "int8" and not onnx_has_qdq(onnx_path):
        raise ValueError(f"precision 'int8' needs an explicitly quantized (Q/DQ) ONNX; {onnx_path} has no "
                         "QuantizeLinear/DequantizeLinear nodes (quantize it first, e.g. with NVIDIA ModelOpt)")
    trt = import_tensorrt()
    strongly_typed = resolve_strong_typing(trt, settings.strongly_typed)
    timing_cache = timing_cache or settings.timing_cache
    try:
        gpu, cc = cuda_device_identity()
    except TrtEngineError as err:
        raise TensorRTBuildError(f"no usable CUDA device to build on: {err}") from err
    cache_dir = cache_dir or osp.dirname(osp.abspath(onnx_path))
    os.makedirs(cache_dir, exist_ok=True)
    parse_path, conversion = prepare_onnx(onnx_path, settings.precision, strongly_typed, cache_dir,
                                          settings.fp16_converter)
    parse_sha = sha256_file(parse_path)
    key = engine_cache_key(trt.__version__, gpu, cc, settings.precision, settings.profiles, parse_sha,
                           strongly_typed, settings.workspace)
    path = osp.join(cache_dir, f"{key}.engine")
    built_from = {"file": osp.abspath(parse_path), "sha256": parse_sha, "fp16_conversion": conversion}
    info = EngineInfo(path, key, settings.precision, settings.profiles, trt.__version__, f"{gpu} (sm_{cc[0]}{cc[1]})",
                      strongly_typed, cached=osp.isfile(path), workspace=settings.workspace, built_from=built_from,
                      timing_cache=timing_cache)
    if not info.cached:
        plan = build_plan(trt, parse_path, settings.precision, strongly_typed, settings.workspace, settings.profiles,
                          timing_cache)
        atomic_write(path, plan)
        meta = {**asdict(info), "cached": False, "onnx": osp.abspath(onnx_path), "tensorrt_major": trt_major(trt)}
        atomic_write(osp.join(cache_dir, f"{key}.json"), json.dumps(meta, indent=2).encode())
    return info
