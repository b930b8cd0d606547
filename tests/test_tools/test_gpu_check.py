"""tools/gpu_check.py without a GPU: the table, the junit rows, the budgets (timeout, skip) on quick fake commands."""

import json
import signal
import sys
import textwrap
import time

from gen3d.utils.gpu_check import (
    Row,
    benchmark_figures,
    format_report,
    run_benchmark,
    run_command,
    run_gpu_check,
    run_pytest,
)
from tests.conftest import REPO_ROOT, run_tool

FAKE_TESTS = textwrap.dedent("""
    import os, time
    import pytest

    pytestmark = pytest.mark.gpu

    def test_quick(device):
        assert device in ("cuda", "cpu")

    def test_fails(device):
        assert 1 == 2

    def test_needs_cuda():  # no device fixture: skipped on CPU even with GEN3D_GPU_TESTS_ON_CPU=1
        pass

    def test_zz_slow(device):
        time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
""")


def _fake_tests(tmp_path):
    # under tests/ so that tests/conftest.py (the gpu skip, the device fixture) applies; a name pytest never collects
    path = REPO_ROOT / "tests" / "test_tools" / f"_fake_gpu_{tmp_path.name}.py"
    path.write_text(FAKE_TESTS)
    return path


def test_report_is_one_markdown_table_with_the_environment():
    rows = [Row("pytest", "a::b", "passed", 1.234), Row("benchmark", "seg-step", "timeout", 60.0, "x | y")]
    text = format_report(rows, {"device": "NVIDIA H200", "torch": "2.9", "cuda": "12.8"}, 540, 61.5)
    assert "- device: NVIDIA H200" in text and "- cuda: 12.8" in text and "used: 61.5 s" in text
    table = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert table[0] == "| part | test / benchmark | status | seconds | figures |" and len(table) == 4
    assert table[2] == "| pytest | a::b | passed | 1.23 |  |"
    assert all(ln.count("|") == 6 for ln in table)


def test_command_past_its_budget_is_interrupted(tmp_path):
    # as when the check itself was started with & (SIGINT ignored): its children must still take the interrupt
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start = time.monotonic()
        out = run_command([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"], 1.5,
                          tmp_path / "log.txt")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert out.status == "timeout" and out.seconds < 15 and time.monotonic() - start < 15
    assert "started" in (tmp_path / "log.txt").read_text()
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"], 30).status == "failed (rc 3)"


def test_pytest_rows_per_test_and_a_timeout_keeps_the_finished_ones(tmp_path, monkeypatch):
    path = _fake_tests(tmp_path)
    try:
        monkeypatch.setenv("GEN3D_GPU_TESTS_ON_CPU", "1")
        out = run_pytest([str(path)], 120, tmp_path)
        status = {r.name.split("::")[-1]: r.status for r in out.rows}
        assert status["test_quick"] == "passed" and status["test_fails"] == "failed"
        assert status["test_needs_cuda"] == "skipped" and status["test_zz_slow"] == "passed"
        assert out.rows[-1].name == "pytest -m gpu (session)" and out.rows[-1].status == "failed (rc 1)"
        assert "2 passed, 1 failed, 1 skipped" in out.rows[-1].figures
        monkeypatch.setenv("FAKE_SLEEP", "60")
        out = run_pytest([str(path)], 10, tmp_path)  # SIGINT: pytest still writes the junit xml
        status = {r.name.split("::")[-1]: r.status for r in out.rows}
        assert out.rows[-1].status == "timeout" and out.rows[-1].seconds < 40
        assert status["test_quick"] == "passed"
    finally:
        path.unlink()


def test_benchmark_rows_and_skips(tmp_path):
    fake = tmp_path / "bench.py"
    fake.write_text("import json, sys\nargs = sys.argv\nout = args[args.index('--out') + 1]\n"
                    "json.dump([{'variant': 'fp32', 'median s': 0.5, 'speed-up': 1.0}, "
                    "{'variant': 'amp', 'median s': 0.25, 'speed-up': 2.0}], open(out, 'w'))\n"
                    "print('--device' if '--help' in args else '')\n")
    out = run_benchmark(fake, "uniad-train", "cuda", 30, tmp_path, has_device=True)
    assert out.rows[0].status == "ok" and out.rows[0].figures == "fp32 0.5 s speed-up 1.00; amp 0.25 s speed-up 2.00"
    skipped = run_benchmark(fake, "seg-step", "cuda", 30, tmp_path, has_device=False)
    assert skipped.rows[0].status == "skipped" and "--device" in skipped.rows[0].figures
    row = {"variant": "U2PL", "median s": 1.0, "x supervised": 3.0}
    assert benchmark_figures([row]) == "U2PL 1 s x supervised 3.00"
    # the whole check: the first benchmark takes the budget, the second is skipped, the table is written
    slow = tmp_path / "slow.py"
    slow.write_text("import sys, time\nprint('--device' if '--help' in sys.argv else '')\n"
                    "time.sleep(0 if '--help' in sys.argv else 60)\n")
    rows = run_gpu_check(tmp_path / "r.md", budget_s=8, benchmarks={"a": 60, "b": 60}, pytest_args=(), tool=slow)
    assert [(r.name, r.status) for r in rows] == [("a", "timeout"), ("b", "skipped (budget)")]
    assert "| benchmark | b | skipped (budget) |" in (tmp_path / "r.md").read_text()


def test_tool_end_to_end_on_cpu(tmp_path):
    path = _fake_tests(tmp_path)
    try:
        out = run_tool("gpu_check.py", "--out", str(tmp_path / "check.md"), "--device", "cpu", "--tests", str(path),
                       "--benchmarks", "none", env={"GEN3D_GPU_TESTS_ON_CPU": "1"}, timeout=200)
    finally:
        path.unlink()
    assert out.returncode == 1, out.stderr[-2000:]  # test_fails failed
    text = (tmp_path / "check.md").read_text()
    assert "- device: CPU" in text and "- torch:" in text and "test_quick | passed" in text
    assert (tmp_path / "check_logs" / "pytest_gpu.xml").is_file()
    assert json.loads(json.dumps(text))  # plain text, no stray bytes
