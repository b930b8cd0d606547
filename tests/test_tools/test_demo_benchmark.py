"""make demo's tool and the benchmark tool run end to end (short schedules)."""

import json

import pytest

from tests.conftest import REPO_ROOT, run_tool

TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")


@pytest.mark.slow
def test_demo_tool_one_epoch(tmp_path):
    out = run_tool("demo.py", "--epochs", "1", "--amp", "off", "--work-dir", str(tmp_path), "--classes", "coffee",
                   "brick", "--n-train", "12", timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["per_class"]) == {"coffee", "brick"}
    assert "I-AUROC" in out.stdout
    assert len(list((tmp_path / "overlays").rglob("*.png"))) > 0


def test_benchmark_uniad_train_prints_table(tmp_path):
    rows_file = tmp_path / "rows.json"
    out = run_tool("benchmark.py", "uniad-train", "--config", TINY, "--batch-size", "2", "--rounds", "1",
                   "--device", "cpu", "--threads", "1", "--out", str(rows_file))
    assert out.returncode == 0, out.stderr[-4000:]
    rows = json.loads(rows_file.read_text())
    assert {r["variant"] for r in rows} == {"fp32 uncached", "fp32 cached", "bf16 uncached", "bf16 cached"}
    assert all(r["median s"] > 0 and r["device"] == "cpu" and r["threads"] == 1 for r in rows)
    assert "speed-up" in out.stdout and "uniad_tiny.py, 1 threads, CPU\n" in out.stdout
