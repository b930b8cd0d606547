"""The TensorRT calls of an engine build, gated by the installed major version (8.6, 10.x, 11.x).

What each version offers (Python bindings), and where it was read:

* 10.x (JetPack 6.1/6.2 ship 10.3): ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` "[DEPRECATED] Ignored because
  networks are always explicit batch in TensorRT 10.0" and ``STRONGLY_TYPED`` (docs.nvidia.com/deeplearning/tensorrt/
  latest/_static/python-api/infer/Core/Builder.html); weak-typing flags ``BuilderFlag.FP16/INT8`` still there
  (deprecated from 10.12, shared/specs/deploy.md section 6).
* 11.x (what pip installs on a server): every weak-typing API removed: ``BuilderFlag.FP16, BF16, INT8, FP8, INT4,
  FP4, OBEY/PREFER_PRECISION_CONSTRAINTS, DIRECT_IO``, ``IBuilderConfig.int8_calibrator`` and the calibration /
  quantization-flag calls (docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/
  tensorrt-10x-to-11x-python-api-reference.html); networks are always strongly typed and the 11 example calls
  ``builder.create_network()`` with no flag (.../tensorrt-10x-to-11x-python-api-patterns.html); the creation-flag
  enum keeps only ``STRONGLY_TYPED``, deprecated and ignored (trtx-sys docs of the 11 headers; secondary), so no
  flag is passed on 11. fp16 comes from an fp16 ONNX file (:mod:`gen3d.deploy.fp16_convert`), int8 from Q/DQ.
* Both: ``create_builder_config``, ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, n)``,
  ``create_optimization_profile`` / ``set_shape`` / ``add_optimization_profile``, ``create_timing_cache(bytes)`` /
  ``set_timing_cache(cache, ignore_mismatch)`` / ``get_timing_cache().serialize()``, ``build_serialized_network``
  (Builder.html and the 11 patterns page above; neither is listed as removed in 11).

Not verified here: no machine in this project can install TensorRT. ``tests/helpers/fake_tensorrt.py`` offers exactly
the API listed above per major version, and the tests fail on a call that the real one would refuse.
"""

from __future__ import annotations

import logging
import os
import os.path as osp
import tempfile
from typing import Any

logger = logging.getLogger("gen3d.deploy")


class TensorRTBuildError(RuntimeError):
    """The ONNX parser or the builder failed; the message lists the parser errors."""


def trt_major(trt: Any) -> int:
    """Major version of a ``tensorrt`` module (``'10.3.0'`` -> 10)."""
    return int(str(trt.__version__).split(".")[0])


def resolve_strong_typing(trt: Any, requested: bool | None) -> bool:
    """Whether the network is strongly typed: always on 11; on 10 as ``requested`` (default weak); never below 9.

    Raises:
        TensorRTBuildError: Strong typing asked of a TensorRT without it (8.x).
    """
    major = trt_major(trt)
    if major >= 11:
        if requested is False:
            logger.warning("TensorRT %s builds strongly typed networks only: strongly_typed=False is ignored "
                           "(fp16 comes from an fp16 ONNX file, int8 from Q/DQ nodes)", trt.__version__)
        return True
    if requested and not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        raise TensorRTBuildError(f"TensorRT {trt.__version__} has no STRONGLY_TYPED networks; set strongly_typed=False")
    return bool(requested)


def network_flags(trt: Any, strongly_typed: bool) -> int:
    """Creation flags: EXPLICIT_BATCH below 10 only; STRONGLY_TYPED on 9/10 when asked; none on 11 (always strong)."""
    major = trt_major(trt)
    flags = 0
    if major < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed and major < 11:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def set_precision(trt: Any, config: Any, precision: str, strongly_typed: bool) -> list[str]:
    """Weak-typing flags (TensorRT <= 10, not strongly typed): FP16 for fp16, FP16 + INT8 for a Q/DQ int8 graph.

    A strongly typed network (always on 11) takes its types from the ONNX file and gets no flag. Returns the names
    of the flags set.
    """
    if strongly_typed:
        return []
    names = {"fp16": ["FP16"], "int8": ["FP16", "INT8"]}.get(precision, [])
    for name in names:  # int8: the Q/DQ scales come from the ONNX, no calibrator
        config.set_flag(getattr(trt.BuilderFlag, name))
    return names


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (no half-written file)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=osp.dirname(path) or ".")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_timing_cache(config: Any, path: str | None) -> bool:
    """Attach a timing cache to ``config``: the file's bytes when it exists, else an empty cache. Returns 'loaded'."""
    if not path:
        return False
    data = b""
    if osp.isfile(path):
        with open(path, "rb") as f:
            data = f.read()
    config.set_timing_cache(config.create_timing_cache(data), False)  # False: a mismatching cache is an error
    return bool(data)


def save_timing_cache(config: Any, path: str | None) -> None:
    """Write the config's timing cache (grown by the build) back to ``path``."""
    cache = config.get_timing_cache() if path else None
    if cache is None:
        return
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write(path, bytes(memoryview(cache.serialize())))


def build_plan(trt: Any, onnx_path: str, precision: str, strongly_typed: bool, workspace: int,
               profiles: list[dict], timing_cache: str | None = None) -> bytes:
    """Parse ``onnx_path`` and build a serialized engine (the plan bytes).

    Args:
        trt: The ``tensorrt`` module.
        onnx_path: The file to build (already fp16 / Q/DQ where the network is strongly typed).
        precision: ``'fp32'``, ``'fp16'`` or ``'int8'``.
        strongly_typed: From :func:`resolve_strong_typing`.
        workspace: Workspace pool limit in bytes.
        profiles: Per profile, input name -> ``(min, opt, max)``.
        timing_cache: Timing-cache file, loaded when present and written after the build.

    Raises:
        TensorRTBuildError: Parser errors (listed), dynamic inputs without shapes, or a failed build.
    """
    log = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(log)
    network = builder.create_network(network_flags(trt, strongly_typed))
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(onnx_path):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TensorRTBuildError(f"TensorRT {trt.__version__} cannot parse {onnx_path}:\n  " + "\n  ".join(errors)
                                 + "\nRun gen3d.deploy.trt_ops.lint_onnx_for_tensorrt on it for a per-node report.")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    set_precision(trt, config, precision, strongly_typed)
    inputs = {network.get_input(i).name: tuple(network.get_input(i).shape) for i in range(network.num_inputs)}
    dynamic = sorted(n for n, s in inputs.items() if any(d < 0 for d in s))
    if dynamic and not profiles:
        raise TensorRTBuildError(f"inputs {dynamic} have dynamic axes; give min/opt/max shapes in "
                                 "backend_config.model_inputs")
    for index, profile in enumerate(profiles):
        unknown, missing = sorted(set(profile) - set(inputs)), sorted(set(dynamic) - set(profile))
        if unknown or missing:
            raise TensorRTBuildError(f"profile {index}: unknown inputs {unknown}, dynamic inputs without shapes "
                                     f"{missing} (network inputs: {inputs})")
        trt_profile = builder.create_optimization_profile()
        for name, (low, opt, high) in profile.items():
            trt_profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(trt_profile)
    load_timing_cache(config, timing_cache)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTBuildError(f"TensorRT {trt.__version__} failed to build an engine from {onnx_path} (see the "
                                 "log above; try a larger max_workspace_size or fp32)")
    save_timing_cache(config, timing_cache)
    return bytes(memoryview(plan))
