"""PatchCore through the tools on a tiny MVTec tree: train (one fitting epoch) -> test (results JSON) -> infer."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.anomaly_data import CLASSES, N_TEST, N_TRAIN, make_mvtec_tree

TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "patchcore_tiny.py")
CONTRACT_KEYS = {"image_auroc", "pixel_auroc", "pixel_aupro", "image_f1max", "pixel_f1max", "pixel_ap"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_mvtec_tree(tmp_path_factory.mktemp("mvtec"))
    work = tmp_path_factory.mktemp("work")
    out = run_tool("train.py", TINY, "--data-root", str(root), "--work-dir", str(work))
    assert out.returncode == 0, out.stderr[-4000:]
    return root, work


def test_checkpoint_holds_banks_and_validation_thresholds(trained):
    from gen3d.engine.hooks import thresholds_from_metrics

    _, work = trained
    ckpt = load_local_checkpoint(work / "epoch_1.pth")
    assert ckpt["meta"]["model_type"] == "PatchCore"
    banks = {bytes.fromhex(k.split("bank_", 1)[1]).decode(): v for k, v in ckpt["state_dict"].items()
             if k.startswith("memory_banks.bank_")}
    assert set(banks) == set(CLASSES)
    n_fit = N_TRAIN - round(N_TRAIN * 0.34)  # the rest of train/good is the validation split
    for bank in banks.values():  # 64 px -> 8x8 patches per image, 152 channels, coreset ratio 0.1
        assert bank.shape == (max(1, int(n_fit * 64 * 0.1)), 152)
    logged = [thresholds_from_metrics(json.loads(line))
              for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines()]
    fitted = [t for t in logged if t]
    assert len(fitted) == 1 and set(ckpt["meta"]["thresholds"]) == set(CLASSES)
    for cls_name in CLASSES:  # epoch_1.pth carries the thresholds of its own validation
        assert ckpt["meta"]["thresholds"][cls_name] == pytest.approx(fitted[0][cls_name], rel=1e-6)


def test_checkpoint_reloads_exactly(trained):
    from gen3d.apis.inference import init_model

    _, work = trained
    ckpt = load_local_checkpoint(work / "epoch_1.pth")
    model = init_model(str(work / "epoch_1.pth"), TINY)
    assert model.memory_banks.classes() == sorted(CLASSES)
    for cls_name in CLASSES:
        key = "memory_banks.bank_" + cls_name.encode().hex()
        assert torch.equal(model.memory_banks.get(cls_name), ckpt["state_dict"][key])
    assert model.thresholds == ckpt["meta"]["thresholds"]


def test_test_tool_results_json_like_uniad(trained, tmp_path):
    root, work = trained
    results = tmp_path / "results.json"
    out = run_tool("test.py", TINY, str(work / "epoch_1.pth"), "--data-root", str(root), "--work-dir", str(tmp_path),
                   "--out", str(results), "--show-dir", str(tmp_path / "show"))
    assert out.returncode == 0, out.stderr[-4000:]
    data = json.loads(results.read_text())
    assert set(data) == {"mean", "per_class", "thresholds", "decisions"}
    assert set(data["mean"]) == CONTRACT_KEYS and set(data["per_class"]) == set(CLASSES)
    for values in [data["mean"], *data["per_class"].values()]:
        assert set(values) == CONTRACT_KEYS
        assert all(v is None or 0.0 <= v <= 1.0 for v in values.values())
    meta = load_local_checkpoint(work / "epoch_1.pth")["meta"]
    for cls_name, thr in meta["thresholds"].items():
        assert data["thresholds"][cls_name] == pytest.approx(thr)
    assert data["mean"]["image_auroc"] > 0.5  # the bright rectangles are found even with random Lite0 weights
    assert "I-AUROC" in out.stdout
    assert len(list((tmp_path / "show").rglob("*.png"))) == N_TEST * len(CLASSES)
    with open(tmp_path / "per_image_scores.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == N_TEST * len(CLASSES)


def test_unknown_class_at_test_time_is_refused_naming_it(trained, tmp_path):
    root, work = trained
    other = tmp_path / "data"
    shutil.copytree(root / "bottle", other / "cable")
    out = run_tool("test.py", TINY, str(work / "epoch_1.pth"), "--data-root", str(other), "--work-dir", str(tmp_path))
    assert out.returncode != 0
    assert "unknown class 'cable'" in out.stderr and "bottle" in out.stderr


def test_infer_with_the_config(trained, tmp_path):
    root, work = trained
    out = run_tool("infer.py", str(work / "epoch_1.pth"), str(root / "bottle" / "test"), "--config", TINY,
                   "--class-name", "bottle", "--out-dir", str(tmp_path / "out"), "--no-overlay")
    assert out.returncode == 0, out.stderr[-4000:]
    rows = list(csv.DictReader((tmp_path / "out" / "verdicts.csv").open()))
    assert len(rows) == N_TEST and all(r["label"] in ("GOOD", "DEFECT") for r in rows)
    scores = {r["path"].split("/test/")[1]: float(r["score"]) for r in rows}
    good = np.mean([v for k, v in scores.items() if k.startswith("good/")])
    bad = np.mean([v for k, v in scores.items() if not k.startswith("good/")])
    assert bad > good
