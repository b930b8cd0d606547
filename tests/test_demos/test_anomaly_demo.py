"""``make demo`` (gen3d.demos.anomaly_demo, tools/demo.py): UniAD and PatchCore side by side on the offline set."""

import importlib.util
import json

import pytest

from gen3d.demos.anomaly_demo import format_comparison, method_dirs, run_anomaly_demo
from tests.conftest import REPO_ROOT, run_tool, run_tool_main


def _results(auroc: float, recall: float | None = None) -> dict:
    per_class = {c: {"image_auroc": auroc, "pixel_auroc": 0.9, "pixel_aupro": 0.8} for c in ("coffee", "brick")}
    out = {"mean": {"image_auroc": auroc, "pixel_auroc": 0.9, "pixel_aupro": 0.8}, "per_class": per_class}
    if recall is not None:
        out["decisions"] = {"coffee": {"defect_recall": recall, "false_alarm_rate": 0.25},
                            "brick": {"defect_recall": 1.0, "false_alarm_rate": 0.0}}
    return out


def test_format_comparison_puts_the_methods_side_by_side():
    table = format_comparison({"UniAD": _results(0.5), "PatchCore": _results(0.925, recall=0.5)})
    lines = table.splitlines()
    assert ["I-AUROC", "P-AUROC", "AUPRO", "Recall@thr", "FalseAlarm@thr"] == lines[0].split()
    assert lines[1].split() == ["class"] + ["UniAD", "PatchCore"] * 5
    coffee = next(line for line in lines if line.startswith("coffee")).split()
    assert coffee == ["coffee", "50.0", "92.5", "90.0", "90.0", "80.0", "80.0", "-", "50.0", "-", "25.0"]
    mean = lines[-1].split()
    assert mean[0] == "mean" and mean[-4:] == ["-", "75.0", "-", "12.5"]  # decisions: unweighted mean of classes
    assert "Recall@thr" not in format_comparison({"UniAD": _results(0.5)})


def test_cli_runs_both_methods_unless_told():
    spec = importlib.util.spec_from_file_location("tool_demo", REPO_ROOT / "tools" / "demo.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.parse_args([]).methods == ["uniad", "patchcore"]
    assert tool.parse_args(["--no-patchcore"]).methods == ["uniad"]
    assert tool.parse_args(["--methods", "patchcore"]).methods == ["patchcore"]
    out = run_tool_main("demo.py", "--methods", "patchcore", "--no-patchcore")
    assert out.returncode != 0 and "no method" in out.stderr
    with pytest.raises(ValueError, match="distinct names"):
        run_anomaly_demo("unused", methods=["uniad", "padim"])
    assert method_dirs("w", "uniad")["overlays"] == "w/overlays"  # the paths README names
    assert method_dirs("w", "patchcore")["overlays"] == "w/patchcore/overlays"


@pytest.mark.slow
def test_demo_tool_trains_uniad_and_fits_patchcore(tmp_path):
    """One tiny end-to-end run of both methods (1 UniAD epoch, 2 classes, 12 + 4 + 4 images per class)."""
    out = run_tool("demo.py", "--epochs", "1", "--amp", "off", "--work-dir", str(tmp_path), "--classes", "coffee",
                   "brick", "--n-train", "12", "--n-test-good", "4", "--n-test-defect", "4", timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["methods"] == ["uniad", "patchcore"]
    for method in ("uniad", "patchcore"):
        res = results[method]
        assert set(res["per_class"]) == {"coffee", "brick"}
        assert res["mean"]["image_auroc"] is not None and set(res["decisions"]) == {"coffee", "brick"}
        assert res["train_s"] > 0 and res["test_s"] > 0
        pngs = list((tmp_path / method_dirs("", method)["overlays"]).rglob("*.png"))
        assert len(pngs) >= 8, method  # every test image of both classes drawn
    assert results["per_class"] == results["uniad"]["per_class"]  # UniAD's keys stay at the top level too
    assert results["patchcore"]["checkpoint"].endswith("patchcore/train/epoch_1.pth")
    assert set(results["seconds"]) >= {"uniad_train", "uniad_test", "patchcore_train", "patchcore_test", "total"}
    header = next(line for line in out.stdout.splitlines() if line.startswith("class"))
    assert header.split()[1:3] == ["UniAD", "PatchCore"] and "I-AUROC" in out.stdout
    mean = next(line for line in out.stdout.splitlines() if line.startswith("mean")).split()
    assert len(mean) == 11 and mean[2] != "-"  # PatchCore's mean I-AUROC is in the table
