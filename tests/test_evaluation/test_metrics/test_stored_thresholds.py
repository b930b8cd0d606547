"""A test run reports the checkpoint's thresholds the decisions used, never thresholds fitted on the test split."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator

from gen3d.evaluation.metrics import AnomalyMetric, to_results_json
from gen3d.structures import AnomalyDataSample

SIZE = 8
STORED = {"bottle": {"image": 1.25, "pixel": 1.1}, "cable": {"image": 0.95, "pixel": 0.9}}


def _samples(thresholds: dict) -> list[AnomalyDataSample]:
    """bottle: 3 good + 3 defective, cable: 4 good; decided with ``thresholds`` as UniAD.predict does."""
    rng = np.random.default_rng(0)
    out = []
    for cls_name, n_good, n_bad in (("bottle", 3, 3), ("cable", 4, 0)):
        for i in range(n_good + n_bad):
            label = int(i >= n_good)
            mask = np.zeros((SIZE, SIZE), np.uint8)
            mask[2:5, 2:5] = label
            amap = torch.from_numpy(rng.uniform(0, 1, (SIZE, SIZE)) + mask).float()
            sample = AnomalyDataSample(metainfo=dict(cls_name=cls_name))
            sample.gt_label, sample.gt_mask = torch.tensor(label), torch.from_numpy(mask)
            sample.anomaly_map, sample.pred_score = amap, amap.max()
            thr = thresholds.get(cls_name)
            if thr:
                sample.pred_label = (sample.pred_score >= thr["image"]).long()
                sample.pred_mask = (amap >= thr["pixel"]).to(torch.uint8)
            out.append(sample)
    return out


def _evaluate(metric: AnomalyMetric, samples: list) -> dict:
    evaluator = Evaluator(metric)
    evaluator.process(data_samples=samples)
    return evaluator.evaluate(len(samples))


def test_test_run_reports_stored_thresholds_only():
    metric = AnomalyMetric()
    metric.use_stored_thresholds(STORED)  # what a test run's hook passes: the checkpoint's thresholds
    flat = _evaluate(metric, _samples(STORED))
    assert not [k for k in flat if k.startswith("threshold/")]  # nothing fitted on the test split
    for cls_name, thr in STORED.items():
        assert flat[f"stored_threshold/{cls_name}/image"] == thr["image"]
        assert flat[f"stored_threshold/{cls_name}/pixel"] == thr["pixel"]
    assert 0.0 <= flat["bottle/image_auroc"] <= 1.0 and "bottle/defect_recall" in flat  # metrics unchanged
    results = to_results_json(flat)
    assert results["thresholds"] == STORED and set(results["decisions"]) == {"bottle", "cable"}

    from gen3d.engine.hooks import thresholds_from_metrics

    assert thresholds_from_metrics(flat) == {}  # a test run's metrics can never be taken for fitted thresholds


def test_results_json_of_a_test_run_keeps_thresholds_and_decisions():
    from gen3d.engine.launch import results_to_json

    metric = AnomalyMetric()
    metric.use_stored_thresholds(STORED)
    flat = _evaluate(metric, _samples(STORED))
    cfg = Config(dict(test_evaluator=dict(type="AnomalyMetric")))
    results = results_to_json(cfg, flat, SimpleNamespace(thresholds=STORED))
    assert results["thresholds"] == STORED and "decisions" in results and "table" in results


def test_checkpoint_without_thresholds_reports_none():
    metric = AnomalyMetric()
    metric.use_stored_thresholds({})
    flat = _evaluate(metric, _samples({}))
    assert not [k for k in flat if "threshold/" in k]
    assert "thresholds" not in to_results_json(flat)


def test_validation_still_fits():
    metric = AnomalyMetric()
    metric.use_stored_thresholds(STORED)
    metric.use_stored_thresholds(None)  # back to fitting (the validation behaviour, also the default)
    flat = _evaluate(metric, _samples(STORED))
    assert {k for k in flat if "threshold/" in k} == {f"threshold/{c}/{k}" for c in STORED for k in ("image", "pixel")}
    assert flat["threshold/bottle/image"] != pytest.approx(STORED["bottle"]["image"])
