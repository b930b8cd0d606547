"""``make demo-seg``'s tool and the ``seg-step`` benchmark run end to end (tiny settings)."""

import importlib.util
import json
import os.path as osp

import pytest

from gen3d.demos.seg_demo import METHODS, format_comparison, run_seg_demo
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT, run_tool


def _demo_tool():
    spec = importlib.util.spec_from_file_location("demo_seg_tool", REPO_ROOT / "tools" / "demo_seg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_seg_demo_tool_one_epoch(tmp_path):
    out = run_tool("demo_seg.py", "--epochs", "1", "--n-labeled", "4", "--n-unlabeled", "8", "--n-val", "2",
                   "--size", "64", "--work-dir", str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    # 4 labeled / 8 unlabeled, batch 4: a supervised epoch is 1 iteration, a U2PL epoch 2; supervised-long matches U2PL
    for run, iters in (("supervised", 1), ("supervised-long", 2), ("u2pl", 2)):
        assert 0.0 <= results[run]["mIoU"] <= 1.0
        assert set(results[run]["per_class"]) == {"background", "cat", "coffee", "rocket", "astronaut"}
        assert results[run]["iters"] == iters, run
    assert "mIoU supervised" in out.stdout and "supervised (same iters)" in out.stdout and "U2PL" in out.stdout


def test_seg_demo_methods_option_and_configs(tmp_path):
    tool = _demo_tool()
    assert tool.parse_args([]).methods == ("supervised", "supervised-long", "u2pl")
    from gen3d.demos.seg_demo import long_factor
    assert [long_factor(*n) for n in ((8, 32), (16, 64), (4, 8), (5, 6), (8, 4))] == [4, 4, 2, 1, 1]
    assert tool.parse_args(["--methods", "supervised, u2pl,MeanTeacher"]).methods == (
        "supervised", "u2pl", "meanteacher")
    for bad in ("fixmatch", "u2pl,u2pl", ","):
        with pytest.raises(SystemExit):
            tool.parse_args(["--methods", bad])
    with pytest.raises(ValueError, match="methods"):
        run_seg_demo(str(tmp_path), 1, methods=("supervised", "cps"))
    assert not (tmp_path / "data").exists()  # rejected before the set is built
    types = {"supervised": "EncoderDecoder", "supervised-long": "EncoderDecoder", "u2pl": "U2PL",
             "meanteacher": "MeanTeacher"}
    for name, (config, _) in METHODS.items():
        assert osp.isfile(config)
        assert load_config(config).model.type == types[name]
    fst = load_config(str(REPO_ROOT / "configs/fst/fst-d_meanteacher_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py"))
    mt, u2pl = load_config(METHODS["meanteacher"][0]), load_config(METHODS["u2pl"][0])
    assert mt.train_cfg == u2pl.train_cfg and mt.param_scheduler == u2pl.param_scheduler
    assert mt.train_dataloader == fst.train_dataloader and mt.optim_wrapper == fst.optim_wrapper
    assert {k: mt.model[k] for k in fst.model.method if k != "type"} == {
        k: v for k, v in fst.model.method.items() if k != "type"}


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
    assert [r["variant"] for r in rows] == ["supervised", "MeanTeacher", "U2PL", "DACS", "FST-D(MeanTeacher, k=3)",
                                            "FST-D(U2PL, k=3)", "FST-D(DACS, k=3)"]
    assert all(r["median s"] > 0 for r in rows) and rows[0]["x supervised"] == 1.0
    for row in rows:
        assert row["variant"] in out.stdout
    assert "x supervised" in out.stdout
