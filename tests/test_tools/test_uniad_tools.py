"""UniAD through the tools on a tiny MVTec tree: train -> test (results JSON, overlays) -> infer (CSV, video)."""

import csv
import json

import cv2
import numpy as np
import pytest

from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.anomaly_data import CLASSES, N_TEST

TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")
CONTRACT_KEYS = {"image_auroc", "pixel_auroc", "pixel_aupro", "image_f1max", "pixel_f1max", "pixel_ap"}


@pytest.fixture(scope="module")
def trained(trained_tiny_uniad):
    return trained_tiny_uniad  # (data_root, work_dir), shared with the deploy tests: read-only


def test_checkpoint_holds_validation_thresholds(trained):
    _, work = trained
    meta = load_local_checkpoint(work / "epoch_2.pth")["meta"]
    assert meta["model_type"] == "UniAD"
    assert set(meta["thresholds"]) == set(CLASSES)
    for thr in meta["thresholds"].values():
        assert np.isfinite(thr["image"]) and np.isfinite(thr["pixel"])
    assert list(work.glob("best_mean_normal_score_mean_epoch_*.pth")), "no checkpoint selected on validation"


def test_epoch_checkpoints_hold_their_own_validation_thresholds(trained):
    # epoch_N.pth is written before epoch N's validation; it must still carry the thresholds that validation fitted
    # (as logged in scalars.json), not those of the previous validation.
    from gen3d.engine.hooks import thresholds_from_metrics

    _, work = trained
    logged = {}
    for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines():
        entry = json.loads(line)
        if fitted := thresholds_from_metrics(entry):
            logged[entry["step"]] = fitted
    assert sorted(logged) == [1, 2]
    for epoch, fitted in logged.items():
        saved = load_local_checkpoint(work / f"epoch_{epoch}.pth")["meta"]["thresholds"]
        assert set(saved) == set(fitted) == set(CLASSES)
        for cls_name in CLASSES:
            assert saved[cls_name] == pytest.approx(fitted[cls_name], rel=1e-6), f"epoch_{epoch}.pth {cls_name}"


def test_test_tool_results_json_and_overlays(trained, tmp_path):
    root, work = trained
    results, show = tmp_path / "results.json", tmp_path / "show"
    out = run_tool("test.py", TINY, str(work / "epoch_2.pth"), "--data-root", str(root), "--work-dir", str(tmp_path),
                   "--out", str(results), "--show-dir", str(show))
    assert out.returncode == 0, out.stderr[-4000:]
    data = json.loads(results.read_text())
    assert set(data["mean"]) == CONTRACT_KEYS
    assert set(data["per_class"]) == set(CLASSES)
    for values in [data["mean"], *data["per_class"].values()]:
        assert set(values) == CONTRACT_KEYS
        assert all(v is None or 0.0 <= v <= 1.0 for v in values.values())
    meta = load_local_checkpoint(work / "epoch_2.pth")["meta"]
    for cls_name, thr in meta["thresholds"].items():  # the validation thresholds, not ones fitted on the test split
        assert data["thresholds"][cls_name] == pytest.approx(thr)
    assert set(data["decisions"]) == set(CLASSES)
    assert "I-AUROC" in out.stdout  # the per-class table
    pictures = sorted(show.rglob("*.png"))
    assert len(pictures) == N_TEST * len(CLASSES)
    img = cv2.imread(str(pictures[0]))
    assert img is not None and img.shape[1] >= 2 * 48  # image and overlay side by side
    # per-image scores (every test image once, with its path and class) and the plots beside results.json
    with open(tmp_path / "per_image_scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == N_TEST * len(CLASSES) and {r["cls_name"] for r in rows} == set(CLASSES)
    assert len({r["img_path"] for r in rows}) == len(rows) and all(r["pred_label"] in ("0", "1") for r in rows)
    for name in ("roc_pr.png", "score_histograms.png"):
        assert cv2.imread(str(tmp_path / name)) is not None, name


def test_infer_folder_with_corrupt_file_and_video(trained, tmp_path):
    root, work = trained
    folder = tmp_path / "bottle"
    folder.mkdir()
    for src in sorted((root / "bottle" / "test").rglob("*.png"))[:3]:
        (folder / f"{src.parent.name}_{src.name}").write_bytes(src.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    out_dir = tmp_path / "out"
    out = run_tool("infer.py", str(work / "epoch_2.pth"), str(folder), "--out-dir", str(out_dir))
    assert out.returncode == 0, out.stderr[-4000:]
    rows = list(csv.DictReader((out_dir / "verdicts.csv").open()))
    assert len(rows) == 4
    broken = [r for r in rows if r["path"].endswith("broken.png")]
    assert broken and broken[0]["error"] and "broken.png" in out.stderr
    good_rows = [r for r in rows if not r["error"]]
    assert all(r["class"] == "bottle" and r["label"] in ("GOOD", "DEFECT") for r in good_rows)
    assert len(list((out_dir / "overlays").glob("*.png"))) == 3
    # A video file: every frame gets a verdict.
    video = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (48, 48))
    frames = [cv2.imread(str(p)) for p in sorted((root / "bottle" / "train" / "good").glob("*.png"))[:4]]
    for frame in frames:
        writer.write(frame)
    writer.release()
    out = run_tool("infer.py", str(work / "epoch_2.pth"), str(video), "--out-dir", str(tmp_path / "vid"),
                   "--class-name", "bottle")
    assert out.returncode == 0, out.stderr[-4000:]
    rows = list(csv.DictReader((tmp_path / "vid" / "verdicts.csv").open()))
    assert len(rows) == len(frames) and all(r["label"] in ("GOOD", "DEFECT") for r in rows)


def test_infer_missing_input_is_named(trained, tmp_path):
    _, work = trained
    out = run_tool("infer.py", str(work / "epoch_2.pth"), str(tmp_path / "nothing_here"))
    assert out.returncode != 0 and "nothing_here" in out.stderr


def test_infer_thresholds_override_without_retraining(trained, tmp_path):
    root, work = trained
    images = root / "bottle" / "test"
    labels = {}
    for name, value in (("low", -1.0), ("high", 1e9)):
        thr_file = tmp_path / f"{name}.json"
        thr_file.write_text(json.dumps({"bottle": {"image": value, "pixel": value}}))
        out = run_tool("infer.py", str(work / "epoch_2.pth"), str(images), "--out-dir", str(tmp_path / name),
                       "--class-name", "bottle", "--no-overlay", "--thresholds", str(thr_file))
        assert out.returncode == 0, out.stderr[-4000:]
        labels[name] = {r["label"] for r in csv.DictReader((tmp_path / name / "verdicts.csv").open())}
    assert labels == {"low": {"DEFECT"}, "high": {"GOOD"}}


def test_infer_warns_when_the_checkpoint_has_no_thresholds(trained, tmp_path):
    """A checkpoint saved before any validation has no thresholds: infer says so instead of silent 'unknown's."""
    import torch

    root, work = trained
    ckpt = load_local_checkpoint(work / "epoch_2.pth")
    ckpt["meta"]["thresholds"] = {}
    torch.save(ckpt, tmp_path / "no_thr.pth")
    out = run_tool("infer.py", str(tmp_path / "no_thr.pth"), str(root / "bottle" / "test"), "--out-dir",
                   str(tmp_path / "out"), "--class-name", "bottle", "--no-overlay")
    assert out.returncode == 0, out.stderr[-4000:]
    assert "holds no thresholds" in out.stderr
    assert {r["label"] for r in csv.DictReader((tmp_path / "out" / "verdicts.csv").open())} == {"unknown"}
