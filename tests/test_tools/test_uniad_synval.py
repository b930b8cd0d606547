"""UniAD trained through tools/train.py with the synthetic-defect validation: selection by AUROC, F1 thresholds."""

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from gen3d.evaluation.metrics.thresholds import f1_adaptive_threshold
from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.anomaly_data import CLASSES, make_mvtec_tree

TINY = REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py"
SYNVAL_CONFIG = REPO_ROOT / "configs" / "uniad" / "uniad_effnet-lite0_1xb8-200e_mvtec-224_synval.py"

# The tiny UniAD with the validation, evaluator and checkpoint selection of the synval config.
TINY_SYNVAL = """
_base_ = [{tiny!r}]
_pipeline = [
    dict(type='LoadAnomalyImage'),
    dict(type='LoadAnomalyMask'),
    dict(type='Albu', transforms=[dict(type='Resize', height=64, width=64)]),
    dict(type='PackAnomalyInputs'),
]
val_dataloader = dict(dataset=dict(
    _delete_=True, type='SyntheticDefectValDataset', seed=0, copies=1, pipeline=_pipeline,
    dataset=dict(type='MVTecDataset', data_root='data/uniad-tiny-missing', split='val', val_ratio=0.34)))
val_evaluator = dict(type='AnomalyMetric', threshold_rule='f1', quantile=0.99, report_dir={report!r})
default_hooks = dict(checkpoint=dict(interval=1, save_best='mean/selection_score', rule='greater'))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_mvtec_tree(tmp_path_factory.mktemp("mvtec"))
    work = tmp_path_factory.mktemp("work")
    report = work / "val_report"
    config = work / "uniad_tiny_synval.py"
    config.write_text(TINY_SYNVAL.format(tiny=str(TINY), report=str(report)))
    out = run_tool("train.py", str(config), "--data-root", str(root), "--work-dir", str(work))
    assert out.returncode == 0, out.stderr[-4000:]
    logged = {}
    for line in next(work.glob("*/vis_data/scalars.json")).read_text().splitlines():
        entry = json.loads(line)
        if "mean/image_auroc" in entry:
            logged[entry["step"]] = entry
    return work, report, logged


def test_synval_config_selects_by_auroc_with_f1_thresholds():
    from gen3d.utils.config import load_config

    cfg = load_config(str(SYNVAL_CONFIG))
    assert cfg.default_hooks.checkpoint.save_best == "mean/selection_score"
    assert cfg.default_hooks.checkpoint.rule == "greater"
    assert cfg.val_evaluator.threshold_rule == "f1"
    assert cfg.val_dataloader.dataset.type == "SyntheticDefectValDataset"
    assert cfg.val_dataloader.dataset.dataset.split == "val"
    assert cfg.test_dataloader.dataset.split == "test"


def test_best_checkpoint_is_chosen_by_validation_auroc_and_aupro(trained):
    work, _, logged = trained
    assert sorted(logged) == [1, 2], "each epoch's validation reports image AUROC (it holds defects)"
    assert not any("mean/normal_score_mean" in e for e in logged.values())
    for e in logged.values():  # the selection key: mean of image AUROC and pixel AUPRO
        assert e["mean/selection_score"] == pytest.approx(0.5 * (e["mean/image_auroc"] + e["mean/pixel_aupro"]))
    best = list(work.glob("best_mean_selection_score_epoch_*.pth"))
    assert len(best) == 1 and not list(work.glob("best_mean_normal_score*"))
    scores = {step: logged[step]["mean/selection_score"] for step in logged}
    expected = min(step for step in scores if scores[step] == max(scores.values()))  # 'greater': first maximum
    assert best[0].name == f"best_mean_selection_score_epoch_{expected}.pth", scores
    meta = load_local_checkpoint(best[0])["meta"]
    assert set(meta["thresholds"]) == set(CLASSES)
    for cls_name in CLASSES:  # the best file carries the thresholds of its own validation
        for kind in ("image", "pixel"):
            assert meta["thresholds"][cls_name][kind] == pytest.approx(logged[expected][f"threshold/{cls_name}/{kind}"])


def test_stored_image_thresholds_are_f1_adaptive_on_the_validation(trained):
    work, report, _ = trained
    rows = defaultdict(list)  # the per-image scores of the last validation (epoch 2)
    with open(report / "per_image_scores.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows[r["cls_name"]].append((float(r["pred_score"]), int(r["gt_label"])))
    stored = load_local_checkpoint(work / "epoch_2.pth")["meta"]["thresholds"]
    for cls_name in CLASSES:
        scores, labels = map(np.array, zip(*rows[cls_name], strict=True))
        assert labels.sum() == (labels == 0).sum() == 2, "each held-out good image and one defective copy"
        assert stored[cls_name]["image"] == pytest.approx(f1_adaptive_threshold(scores, labels), rel=1e-5)
        assert np.isfinite(stored[cls_name]["pixel"])
