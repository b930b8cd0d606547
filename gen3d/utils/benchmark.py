"""Timing helpers for ``tools/benchmark.py``: interleaved rounds, robust statistics, a printed table, the device.

Figures are reported as ratios against a baseline measured in the same run: the machines are noisy, so
variants are timed round-robin (variant A, B, C, A, B, C, ...) and summarised by their median. On CUDA every timed
call is bracketed by ``torch.cuda.synchronize``; the mixed-precision wrapper follows the device as ``tools/train.py
--amp`` does (:func:`amp_optim_wrapper`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from mmengine.optim import OptimWrapper

DEVICES = ("cpu", "cuda")
"""Device types of the training benchmarks."""


def time_interleaved(variants: dict[str, Callable[[], None]], rounds: int = 10, warmup: int = 2,
                     device: str | torch.device | None = None) -> dict[str, list[float]]:
    """Time each variant ``rounds`` times, round-robin, after ``warmup`` untimed calls each.

    Args:
        variants: ``{name: zero-argument callable}``; each call is one unit of work (e.g. one training step).
        rounds: Timed calls per variant.
        warmup: Untimed calls per variant first (allocations, caches, lazy initialisation).
        device: Where the work runs (``'cpu'``, ``'cuda'``, ``'cuda:1'``, a ``torch.device``); on CUDA the device
            is synchronised before and after every timed call, since kernels run asynchronously.

    Returns:
        ``{name: [seconds per call, ...]}``.
    """
    sync = _synchronizer(device)
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


@contextlib.contextmanager
def flush_denormals(device: str | torch.device | None = "cpu") -> Iterator[bool]:
    """On CPU, flush subnormal floats to zero while timing (``torch.set_flush_denormal``), then turn it off again.

    A freshly initialised GAN spends its first training steps in subnormal arithmetic on x86 CPUs, 10-100x slower
    per step; a long run does not see it, so a benchmark of a few dozen steps must not either. Yields whether the
    flush is on (False on CUDA or where the CPU does not support it).
    """
    import torch

    flush = torch.device(device or "cpu").type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield bool(flush)
    finally:
        if flush:
            torch.set_flush_denormal(False)


def _synchronizer(device: str | torch.device | None) -> Callable[[], None]:
    """``torch.cuda.synchronize`` bound to ``device`` if it is a CUDA device, else a no-op."""
    if device is None or str(device).split(":")[0] != "cuda":
        return lambda: None
    import torch

    dev = torch.device(device)
    return lambda: torch.cuda.synchronize(dev)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def format_table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    """Render rows (dicts) as a fixed-width text table with the given column order."""
    cells = [[str(col) for col in columns]] + [[_fmt(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summarize(times: dict[str, list[float]], baseline: str, items_per_call: int = 1) -> list[dict[str, object]]:
    """Median/p90 seconds per call, items per second and speed-up against ``baseline`` for each variant."""
    base = statistics.median(times[baseline])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"variant": name, "median s": med, "p90 s": percentile(ts, 90), "items/s": items_per_call / med,
                     "speed-up": base / med})
    return rows


def bench_device(device: str | torch.device = "cpu") -> torch.device:
    """The device a training benchmark runs on.

    Raises:
        ValueError: Neither a CPU nor a CUDA device.
        RuntimeError: A CUDA device where torch sees none.
    """
    import torch

    dev = torch.device(device)
    if dev.type not in DEVICES:
        raise ValueError(f"--device {device}: the training benchmarks run on {' or '.join(DEVICES)}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: CUDA is not available to torch {torch.__version__} (built with CUDA "
                           f"{torch.version.cuda}); run with --device cpu or on a machine with a GPU")
    return dev


def device_label(device: torch.device, threads: bool = True) -> str:
    """``'2 threads, CPU'`` or ``'CUDA (NVIDIA H200)'``, for a printed title (threads matter on CPU only)."""
    import torch

    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return f"{torch.get_num_threads()} threads, CPU" if threads else "CPU"


def amp_optim_wrapper(optimizer: torch.optim.Optimizer, device: torch.device, **kwargs) -> OptimWrapper:
    """The mixed-precision wrapper of ``tools/train.py --amp`` for ``device``.

    fp16 ``AmpOptimWrapper`` with a dynamic loss scale on CUDA, bf16 ``CPUAutocastOptimWrapper`` on CPU.

    Args:
        optimizer: The optimizer to wrap.
        device: Where the model is.
        **kwargs: Passed to the wrapper (``clip_grad``, ``accumulative_counts``).
    """
    if device.type == "cuda":
        from mmengine.optim import AmpOptimWrapper

        return AmpOptimWrapper(optimizer=optimizer, loss_scale="dynamic", dtype="float16", **kwargs)
    from gen3d.engine.optim_wrappers import CPUAutocastOptimWrapper

    return CPUAutocastOptimWrapper(optimizer=optimizer, dtype="bfloat16", **kwargs)


def amp_name(device: torch.device) -> str:
    """``'fp16'`` on CUDA, ``'bf16'`` on CPU: the autocast dtype of :func:`amp_optim_wrapper`."""
    return "fp16" if device.type == "cuda" else "bf16"
