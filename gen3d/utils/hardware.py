"""What the CPU can do fast (for choosing bf16 autocast on CPU)."""

from __future__ import annotations

import functools
import platform

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions with native bf16 dot products


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX on x86, or an Arm CPU with BF16).

    bf16 autocast is correct on any CPU; without these instructions it is emulated and usually slower than fp32.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    if platform.machine() in ("aarch64", "arm64"):
        return "bf16" in flags
    return any(flag in flags for flag in BF16_CPU_FLAGS)
