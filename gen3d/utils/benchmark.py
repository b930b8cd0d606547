"""Timing helpers for ``tools/benchmark.py``: interleaved rounds, robust statistics, a printed table.

Figures are reported as ratios against a baseline measured in the same run: the machines are noisy, so
variants are timed round-robin (variant A, B, C, A, B, C, ...) and summarised by their median.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def time_interleaved(variants: dict[str, Callable[[], None]], rounds: int = 10, warmup: int = 2
                     ) -> dict[str, list[float]]:
    """Time each variant ``rounds`` times, round-robin, after ``warmup`` untimed calls each.

    Args:
        variants: ``{name: zero-argument callable}``; each call is one unit of work (e.g. one training step).
        rounds: Timed calls per variant.
        warmup: Untimed calls per variant first (allocations, caches, lazy initialisation).

    Returns:
        ``{name: [seconds per call, ...]}``.
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


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
