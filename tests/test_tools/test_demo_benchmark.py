"""The benchmark tool runs end to end (short schedules); make demo's tool: tests/test_demos/test_anomaly_demo.py."""

import json

from tests.conftest import REPO_ROOT, run_tool

TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")


def test_benchmark_uniad_train_prints_table(tmp_path):
    rows_file = tmp_path / "rows.json"
    out = run_tool("benchmark.py", "uniad-train", "--config", TINY, "--batch-size", "2", "--rounds", "1",
                   "--device", "cpu", "--threads", "1", "--out", str(rows_file))
    assert out.returncode == 0, out.stderr[-4000:]
    rows = json.loads(rows_file.read_text())
    assert {r["variant"] for r in rows} == {"fp32 uncached", "fp32 cached", "bf16 uncached", "bf16 cached"}
    assert all(r["median s"] > 0 and r["device"] == "cpu" and r["threads"] == 1 for r in rows)
    assert "speed-up" in out.stdout and "uniad_tiny.py, 1 threads, CPU\n" in out.stdout
