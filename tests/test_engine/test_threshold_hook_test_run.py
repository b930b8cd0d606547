"""The threshold hook makes a test run report the checkpoint's thresholds, not thresholds fitted on the test split."""

from types import SimpleNamespace

import torch
from mmengine.evaluator import Evaluator

from gen3d.engine.hooks import AnomalyThresholdHook
from gen3d.evaluation.metrics import AnomalyMetric


def test_before_test_epoch_hands_the_stored_thresholds_to_the_metric():
    model = torch.nn.Linear(1, 1)
    model.thresholds = {"bottle": {"image": 1.25, "pixel": 1.1}}
    metric, other = AnomalyMetric(), object()  # a metric without the method is left alone
    runner = SimpleNamespace(model=model, test_evaluator=Evaluator([metric]))
    runner.test_evaluator.metrics.append(other)
    AnomalyThresholdHook().before_test_epoch(runner)
    assert metric.stored_thresholds == {"bottle": {"image": 1.25, "pixel": 1.1}}
    model.thresholds["bottle"]["image"] = 9.0  # the metric holds a copy, not the model's dict
    assert metric.stored_thresholds["bottle"]["image"] == 1.25


def test_before_test_epoch_without_thresholds_reports_none():
    model = torch.nn.Linear(1, 1)
    model.thresholds = {}
    metric = AnomalyMetric()
    AnomalyThresholdHook().before_test_epoch(SimpleNamespace(model=model, test_evaluator=Evaluator([metric])))
    assert metric.stored_thresholds == {}
