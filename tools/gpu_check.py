"""Check gen3d on a GPU in one go: ``python tools/gpu_check.py [--out work_dirs/gpu_check.md] [--budget 540]``.

Runs ``pytest -m gpu`` (a training step under AMP, a validation, an export and its parity for every family; per-test
times from a junit xml), then the benchmarks of ``tools/benchmark.py`` that take a device (``uniad-train``,
``seg-step``, ``gan-train``, ``render``, ``pigan-train``) with ``--device``, each part within its budget and the whole
within ``--budget`` seconds (default 9 minutes, so that it ends inside 10 on one GPU). Writes ONE markdown table (test
or benchmark, status, seconds, figures) with the device name and the torch / CUDA versions; logs, the junit xml and the
benchmark JSON go next to it in ``<out stem>_logs/``. A part out of time is interrupted and reported as ``timeout`` with
what it had.

Without a GPU, ``GEN3D_GPU_TESTS_ON_CPU=1 python tools/gpu_check.py --device cpu`` runs the same test bodies on CPU.
The logic is in :mod:`gen3d.utils.gpu_check`.
"""

import argparse
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gpu tests + training benchmarks, one markdown table")
    parser.add_argument("--out", default="work_dirs/gpu_check.md", help="markdown report to write")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for the whole check")
    parser.add_argument("--pytest-budget", type=float, default=240.0, help="seconds for pytest -m gpu")
    parser.add_argument("--bench-budget", nargs="+", metavar="TASK=S", default=[],
                        help="per-benchmark budgets, e.g. seg-step=60 (defaults: uniad-train=75 seg-step=90 "
                             "gan-train=60 render=25 pigan-train=50)")
    parser.add_argument("--benchmarks", nargs="*", default=None,
                        help="tools/benchmark.py tasks to run (default: all five above; none: none)")
    parser.add_argument("--tests", nargs="*", default=["tests"],
                        help="paths / options after 'pytest -m gpu' (default: tests; none: skip the tests)")
    parser.add_argument("--device", default="cuda", help="--device given to the benchmarks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.utils.gpu_check import BENCHMARKS, format_report, run_gpu_check

    budgets = dict(BENCHMARKS)
    for item in args.bench_budget:
        task, _, seconds = str(item).partition("=")
        budgets[task] = float(seconds)
    tasks = list(BENCHMARKS) if args.benchmarks is None else [t for t in args.benchmarks if t != "none"]
    unknown = [t for t in tasks if t not in budgets]
    if unknown:
        sys.exit(f"error: no budget for benchmark(s) {unknown}; give --bench-budget TASK=SECONDS")
    tests = [] if args.tests in ([], ["none"]) else args.tests
    out = Path(args.out)
    rows = run_gpu_check(out, args.budget, args.pytest_budget, {t: budgets[t] for t in tasks}, tests, args.device)
    print(out.read_text() if out.is_file() else format_report(rows, {}, args.budget, 0.0))
    bad = [r for r in rows if r.status.startswith(("failed", "error", "timeout"))]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
