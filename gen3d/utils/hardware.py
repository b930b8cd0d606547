"""What the CPU can do fast (bf16 autocast on CPU; which int8 kernels ONNX Runtime gets)."""

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
