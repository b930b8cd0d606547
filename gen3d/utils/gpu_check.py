"""One GPU check in one go (``tools/gpu_check.py``): ``pytest -m gpu`` and the training benchmarks, in one table.

Each part runs under a time budget; the result is one markdown table (test or benchmark, status, seconds, figures).

A part that runs out of its budget gets SIGINT (pytest then ends its session and still writes the junit xml of the
tests that ran), then SIGKILL after a grace period; the table is rewritten after every part, so a run stopped from
outside leaves what it had.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gen3d.utils.repo_paths import REPO_ROOT

GRACE_S = 20.0
MIN_PART_S = 5.0
RATIO_KEYS = ("speed-up", "x supervised", "x plain D", "x StyleGAN2")
BENCHMARKS = {"uniad-train": 70.0, "seg-step": 80.0, "gan-train": 55.0, "render": 25.0, "pigan-train": 45.0,
              "depthgan-train": 25.0}
"""Training benchmarks of ``tools/benchmark.py`` and their default budgets in seconds (300 s in all)."""


@dataclass
class Row:
    """One line of the table."""

    part: str
    name: str
    status: str
    seconds: float
    figures: str = ""


@dataclass
class Outcome:
    """What a command did within its budget: ``status`` is ``ok``, ``failed (rc N)`` or ``timeout``."""

    status: str
    seconds: float
    output: str = ""
    rows: list[Row] = field(default_factory=list)


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default.

    A check started with ``&`` or nohup ignores SIGINT; its children would inherit that, never see the interrupt and
    run out the grace.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_command(argv: Sequence[str], timeout: float, log: Path | None = None, env: dict | None = None,
                cwd: str | None = None) -> Outcome:
    """Run ``argv`` in its own process group; past ``timeout`` seconds SIGINT the group, SIGKILL after a grace."""
    start = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                            env={**os.environ, **(env or {})}, start_new_session=True, preexec_fn=_default_sigint)
    status = None
    try:
        out, _ = proc.communicate(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        status = "timeout"
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    seconds = time.monotonic() - start
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out or "")
    status = status or ("ok" if proc.returncode == 0 else f"failed (rc {proc.returncode})")
    return Outcome(status, seconds, out or "")


def junit_rows(xml_path: Path, part: str = "pytest") -> list[Row]:
    """One row per test case of a pytest junit xml (``passed``, ``failed``, ``error`` or ``skipped``)."""
    if not xml_path.is_file():
        return []
    rows = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        status, note = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                status = {"failure": "failed"}.get(tag, tag)
                note = (child.get("message") or "").splitlines()[0][:120] if child.get("message") else ""
                break
        name = f"{case.get('classname', '')}::{case.get('name', '')}".removeprefix("tests.")
        rows.append(Row(part, name, status, float(case.get("time", 0.0)), note))
    return rows


def run_pytest(args: Sequence[str], timeout: float, log_dir: Path, env: dict | None = None) -> Outcome:
    """``python -m pytest -m gpu ARGS`` with a junit xml; rows per test plus a summary row for the session."""
    xml = log_dir / "pytest_gpu.xml"
    xml.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", f"--junitxml={xml}", *args]
    outcome = run_command(argv, timeout, log_dir / "pytest_gpu.log", env)
    outcome.rows = junit_rows(xml)
    counts = {s: sum(r.status == s for r in outcome.rows) for s in ("passed", "failed", "error", "skipped")}
    if outcome.status.startswith("failed") and counts["failed"] + counts["error"] == 0 and not outcome.rows:
        counts["note"] = outcome.output.strip().splitlines()[-1][:120] if outcome.output.strip() else "no output"
    figures = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    outcome.rows.append(Row("pytest", "pytest -m gpu (session)", outcome.status, outcome.seconds, figures))
    return outcome


def benchmark_supports_device(tool: Path) -> bool:
    """Whether ``tools/benchmark.py --help`` lists a ``--device`` option."""
    out = subprocess.run([sys.executable, str(tool), "--help"], capture_output=True, text=True, timeout=60)
    return "--device" in out.stdout


def benchmark_figures(rows: list[dict]) -> str:
    """``variant median s (ratio)`` for each row of a ``tools/benchmark.py --out`` JSON."""
    parts = []
    for row in rows:
        ratio = next((f" {k} {float(row[k]):.2f}" for k in RATIO_KEYS if k in row), "")
        median = f" {float(row['median s']):.3g} s" if "median s" in row else ""
        parts.append(f"{row.get('variant', '?')}{median}{ratio}")
    return "; ".join(parts)


def run_benchmark(tool: Path, task: str, device: str, timeout: float, log_dir: Path, has_device: bool,
                  extra: Sequence[str] = ()) -> Outcome:
    """``tools/benchmark.py TASK --device DEVICE --out JSON``; skipped when the tool has no ``--device``."""
    if not has_device:
        return Outcome("skipped", 0.0, rows=[Row("benchmark", task, "skipped", 0.0,
                                                "tools/benchmark.py has no --device option: it would time the CPU")])
    out_json = log_dir / f"bench_{task}.json"
    out_json.unlink(missing_ok=True)
    argv = [sys.executable, str(tool), task, "--device", device, "--out", str(out_json), *extra]
    outcome = run_command(argv, timeout, log_dir / f"bench_{task}.log")
    figures = benchmark_figures(json.loads(out_json.read_text())) if out_json.is_file() else ""
    if not figures and outcome.output.strip():
        figures = outcome.output.strip().splitlines()[-1][:160]
    outcome.rows = [Row("benchmark", task, outcome.status, outcome.seconds, figures)]
    return outcome


def environment() -> dict[str, str]:
    """Device name and the torch / CUDA / cuDNN / ONNX Runtime versions of this process."""
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": str(torch.version.cuda)}
    if torch.cuda.is_available():
        env["device"] = torch.cuda.get_device_name(0)
        env["cudnn"] = str(torch.backends.cudnn.version())
    else:
        env["device"] = f"CPU ({platform.processor() or platform.machine()}), no CUDA"
    try:
        import onnxruntime as ort

        env["onnxruntime"] = f"{ort.__version__} ({', '.join(ort.get_available_providers())})"
    except ImportError:
        env["onnxruntime"] = "not installed"
    return env


def format_report(rows: Sequence[Row], env: dict[str, str], budget_s: float, elapsed_s: float) -> str:
    """The markdown report: environment lines, then one table of every row."""
    lines = ["# gen3d GPU check", ""]
    lines += [f"- {k}: {v}" for k, v in env.items()]
    lines += [f"- budget: {budget_s:.0f} s, used: {elapsed_s:.1f} s", "",
              "| part | test / benchmark | status | seconds | figures |", "|---|---|---|---:|---|"]
    cell = lambda text: str(text).replace("|", "/").replace("\n", " ")  # noqa: E731 - one cell per column
    lines += [f"| {cell(r.part)} | {cell(r.name)} | {cell(r.status)} | {r.seconds:.2f} | {cell(r.figures)} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def write_report(path: Path, rows: Sequence[Row], env: dict[str, str], budget_s: float, elapsed_s: float) -> None:
    """Write :func:`format_report` to ``path`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_report(rows, env, budget_s, elapsed_s))


def run_gpu_check(out: Path, budget_s: float = 540.0, pytest_budget_s: float = 240.0,
                  benchmarks: dict[str, float] | None = None, pytest_args: Sequence[str] = ("tests",),
                  device: str = "cuda", tool: Path | None = None) -> list[Row]:
    """Run the gpu tests, then each benchmark, each within its budget and all within ``budget_s``.

    Args:
        out: Markdown report to write (logs, junit xml and benchmark JSON go to ``<out stem>_logs/``).
        budget_s: Wall-clock budget of the whole check; a part gets ``min(its budget, time left)``, and a part
            with less than :data:`MIN_PART_S` left is reported as ``skipped (budget)``.
        pytest_budget_s: Budget of ``pytest -m gpu``.
        benchmarks: ``{tools/benchmark.py task: budget in seconds}`` (default :data:`BENCHMARKS`); ``{}`` for none.
        pytest_args: Paths and options after ``pytest -m gpu``; empty to skip the tests.
        device: ``--device`` given to the benchmarks.
        tool: ``tools/benchmark.py`` (default: the one of this checkout).

    Returns:
        The rows of the table.
    """
    start = time.monotonic()
    log_dir = out.parent / f"{out.stem}_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    tool = tool or REPO_ROOT / "tools" / "benchmark.py"
    env, rows = environment(), []
    left = lambda: budget_s - (time.monotonic() - start)  # noqa: E731
    parts: list[tuple[str, float]] = ([("pytest", pytest_budget_s)] if pytest_args else [])
    parts += list((BENCHMARKS if benchmarks is None else benchmarks).items())
    has_device = None
    for name, part_budget in parts:
        timeout = min(part_budget, left())
        if timeout < MIN_PART_S:
            rows.append(Row("pytest" if name == "pytest" else "benchmark", name, "skipped (budget)", 0.0,
                            f"{max(left(), 0):.0f} s of {budget_s:.0f} s left"))
        elif name == "pytest":
            rows += run_pytest(pytest_args, timeout, log_dir).rows
        else:
            has_device = benchmark_supports_device(tool) if has_device is None else has_device
            rows += run_benchmark(tool, name, device, timeout, log_dir, has_device).rows
        write_report(out, rows, env, budget_s, time.monotonic() - start)
    return rows
