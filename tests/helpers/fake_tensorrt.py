"""Stand-in ``tensorrt`` modules for TensorRT 10.x and 11.x: exactly the builder API each offers, calls recorded.

Not evidence that an engine builds (no kernel runs): they catch API use that a real TensorRT of that major version
would refuse. An attribute that the version removed raises ``AttributeError``, as the real bindings do
(``BuilderFlag.FP16`` on 11). Sources: TensorRT 10 Python API Core/Builder.html (``EXPLICIT_BATCH`` "[DEPRECATED]
Ignored", ``STRONGLY_TYPED``); the 10.x -> 11.x Python API reference (docs.nvidia.com/deeplearning/tensorrt/latest/
api/migration/tensorrt-10x-to-11x-python-api-reference.html: FP16, BF16, INT8, FP8, INT4, FP4,
OBEY/PREFER_PRECISION_CONSTRAINTS, DIRECT_IO, int8_calibrator and the calibration-profile / quantization-flag calls
removed; platform_has_fast_fp16/int8 removed, C++ page); 11's creation-flag enum holds only STRONGLY_TYPED
(deprecated, ignored; as listed for the TensorRT 11 headers by the trtx-sys crate docs, secondary).

Use: ``with installed(make_tensorrt('11.4.0')) as trt: ...`` puts it in ``sys.modules['tensorrt']``;
``trt.calls`` lists ``(name, args)`` in call order. ``parse_from_file`` reads the ONNX inputs with ``onnx``.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

WEAK_FLAGS = ("FP16", "BF16", "INT8", "FP8", "INT4", "FP4", "OBEY_PRECISION_CONSTRAINTS",
              "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO")
COMMON_FLAGS = ("TF32", "REFIT", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "STRIP_PLAN", "DISABLE_TIMING_CACHE",
                "GPU_FALLBACK", "DEBUG", "SPARSE_WEIGHTS")


class _Enum:
    """Members by attribute; a missing one raises AttributeError naming the version (as a removed binding would)."""

    def __init__(self, name: str, version: str, members: dict[str, int]) -> None:
        self._name, self._version, self._members = name, version, dict(members)

    def __getattr__(self, item: str) -> int:
        if item.startswith("_"):
            raise AttributeError(item)
        try:
            return self._members[item]
        except KeyError:
            raise AttributeError(f"type object 'tensorrt.{self._name}' has no attribute '{item}' "
                                 f"(stand-in TensorRT {self._version})") from None


def make_tensorrt(version: str = "10.3.0", parse_ok: bool = True, build_ok: bool = True) -> types.ModuleType:
    """A fresh stand-in module for ``version`` (major 10 or 11); see the module docstring."""
    major = int(version.split(".")[0])
    if major not in (10, 11):
        raise ValueError(f"stand-ins exist for TensorRT 10 and 11, not {version}")
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    calls: list[tuple[str, tuple]] = []
    trt.calls = calls

    def record(name: str, *args: Any) -> None:
        calls.append((name, args))

    flags = list(COMMON_FLAGS) + (list(WEAK_FLAGS) if major == 10 else [])
    trt.BuilderFlag = _Enum("BuilderFlag", version, {n: i for i, n in enumerate(flags)})
    trt.NetworkDefinitionCreationFlag = _Enum(
        "NetworkDefinitionCreationFlag", version,
        {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1} if major == 10 else {"STRONGLY_TYPED": 0})
    trt.MemoryPoolType = _Enum("MemoryPoolType", version, {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1,
                                                           "DLA_LOCAL_DRAM": 2, "DLA_GLOBAL_DRAM": 3,
                                                           "TACTIC_DRAM": 4})

    class Logger:
        WARNING, ERROR, INFO, VERBOSE = 2, 1, 3, 4

        def __init__(self, severity: int = 2) -> None:
            self.severity = severity

    class _Input:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags, self.inputs = flags, []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, index: int) -> _Input:
            return self.inputs[index]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network, self.errors = network, []

        def parse_from_file(self, path: str) -> bool:
            import onnx

            record("parse_from_file", path)
            if not parse_ok:
                self.errors = ["In node 0 (importFoo): UNSUPPORTED_NODE: stand-in parse failure"]
                return False
            model = onnx.load(path, load_external_data=False)
            inits = {t.name for t in model.graph.initializer}
            for value in model.graph.input:
                if value.name in inits:  # onnx-tensorrt: an input with an initializer is a constant
                    continue
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)
                self.network.inputs.append(_Input(value.name, dims))
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[index]

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
            record("set_shape", name, tuple(low), tuple(opt), tuple(high))
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = bytes(data) or b"stand-in timing cache"

        def serialize(self) -> bytes:
            return self.data + b"+"

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: set[int] = set()
            self.profiles: list[Profile] = []
            self._cache: TimingCache | None = None

        def set_memory_pool_limit(self, pool: int, size: int) -> None:
            record("set_memory_pool_limit", pool, size)

        def set_flag(self, flag: int) -> None:
            record("set_flag", flag)
            self.flags.add(flag)

        def add_optimization_profile(self, profile: Profile) -> int:
            record("add_optimization_profile", dict(profile.shapes))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> TimingCache:
            record("create_timing_cache", bytes(data))
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            record("set_timing_cache", ignore_mismatch)
            self._cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self._cache

    if major == 10:  # the implicit-calibration API: deprecated in 10.1, still there; removed in 11
        BuilderConfig.int8_calibrator = None

    class Builder:
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            record("create_network", flags)
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            record("build_serialized_network", sorted(config.flags))
            return f"stand-in TensorRT {version} plan".encode() if build_ok else None

    if major == 10:
        Builder.platform_has_fast_fp16 = True
        Builder.platform_has_fast_int8 = True

    class Runtime:  # only so that gen3d.runtime.trt_backend.import_tensorrt accepts the module
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

    for cls in (Logger, OnnxParser, Builder, Runtime):
        setattr(trt, cls.__name__, cls)
    return trt


@contextlib.contextmanager
def installed(module: types.ModuleType) -> Iterator[types.ModuleType]:
    """Make ``import tensorrt`` return ``module`` inside the block (the previous entry is restored)."""
    missing = object()
    previous = sys.modules.get("tensorrt", missing)
    sys.modules["tensorrt"] = module
    try:
        yield module
    finally:
        if previous is missing:
            sys.modules.pop("tensorrt", None)
        else:
            sys.modules["tensorrt"] = previous
