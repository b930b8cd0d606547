"""What the CPU can do fast (bf16 autocast on CPU; which int8 kernels ONNX Runtime gets).

Pure Python, part of the torch-free runtime (the runtime checks int8 files against the CPU it runs on).
"""

from __future__ import annotations

import functools
import platform

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions with native bf16 dot products
VNNI_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # x86 int8 dot products accumulated in int32


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read, e.g. not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX on x86, or an Arm CPU with BF16).

    bf16 autocast is correct on any CPU; without these instructions it is emulated and usually slower than fp32.
    """
    flags = cpu_flags()
    if platform.machine() in ("aarch64", "arm64"):
        return "bf16" in flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def cpu_saturates_u8s8() -> bool:
    """True on an x86 CPU with AVX2 but no VNNI, where full-range int8 weights saturate in ONNX Runtime.

    Its uint8 x int8 kernels add product pairs in int16 there (``gen3d.deploy.quantize.quantize_qdq``'s
    ``reduce_range`` avoids it).
    """
    flags = cpu_flags()
    return "avx2" in flags and not any(flag in flags for flag in VNNI_CPU_FLAGS)


def int8_needs_exact_kernels(full_range: bool) -> bool:
    """True when ONNX Runtime's fused int8 kernels would compute an int8 Q/DQ file wrong on this CPU.

    That is a file with full-range (8-bit) weights (``reduce_range`` false; for a bundle,
    :func:`~gen3d.runtime.manifest.int8_full_range`) on a CPU where :func:`cpu_saturates_u8s8`. Symmetric int8
    activations (TensorRT files) saturate too: they run as uint8 shifted by 128. Such a file is exact with graph
    optimisation at the basic level, where each Q/DQ pair runs as written (simulated quantisation, what TensorRT
    computes) instead of as an int8 kernel.
    """
    return full_range and cpu_saturates_u8s8()
