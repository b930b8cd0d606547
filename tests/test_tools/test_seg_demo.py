"""``make demo-seg``'s tool and the ``seg-step`` benchmark run end to end (tiny settings)."""

import json

import pytest

from gen3d.apis.seg_demo import format_comparison
from tests.conftest import run_tool


@pytest.mark.slow
def test_seg_demo_tool_one_epoch(tmp_path):
    out = run_tool("demo_seg.py", "--epochs", "1", "--n-labeled", "4", "--n-unlabeled", "4", "--n-val", "2",
                   "--size", "64", "--work-dir", str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for run in ("supervised", "u2pl"):
        assert 0.0 <= results[run]["mIoU"] <= 1.0
        assert set(results[run]["per_class"]) == {"background", "cat", "coffee", "rocket", "astronaut"}
        assert results[run]["iters"] == 1
    assert "mIoU supervised" in out.stdout and "U2PL" in out.stdout


def test_format_comparison_side_by_side():
    run = {"mIoU": 0.5, "aAcc": 0.9, "mAcc": 0.6, "iters": 3, "train_s": 1.0,
           "per_class": {"background": {"IoU": 0.9}, "cat": {"IoU": None}}}
    table = format_comparison({"supervised": run, "U2PL": {**run, "mIoU": 0.25}})
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "(%)", "supervised", "U2PL"]
    assert any(line.split() == ["mIoU", "50.0", "25.0"] for line in lines)
    assert any(line.split() == ["IoU", "cat", "nan", "nan"] for line in lines)


def test_benchmark_seg_step_prints_all_variants(tmp_path):
    rows_file = tmp_path / "rows.json"
    out = run_tool("benchmark.py", "seg-step", "--rounds", "1", "--batch-size", "2", "--crop-size", "64",
                   "--out", str(rows_file))
    assert out.returncode == 0, out.stderr[-4000:]
    rows = json.loads(rows_file.read_text())
    assert [r["variant"] for r in rows] == ["supervised", "MeanTeacher", "U2PL", "FST-D(MeanTeacher, k=3)",
                                            "FST-D(U2PL, k=3)"]
    assert all(r["median s"] > 0 for r in rows) and rows[0]["x supervised"] == 1.0
    for row in rows:
        assert row["variant"] in out.stdout
    assert "x supervised" in out.stdout
