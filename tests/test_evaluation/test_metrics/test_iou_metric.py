"""IoUMetric: hand-computed confusion matrix, ignore index, NaN rule, JSON and table, registry."""

import json
import math

import numpy as np
import pytest
import torch

from gen3d.evaluation.metrics import IoUMetric
from gen3d.evaluation.metrics.iou_metric import confusion_matrix, metrics_from_confusion
from gen3d.registry import METRICS
from gen3d.structures import SegDataSample

GT = np.array([[0, 0, 1], [1, 2, 255]])
PRED = np.array([[0, 1, 1], [1, 0, 2]])
# Valid pixels (gt -> pred): 0->0, 0->1, 1->1, 1->1, 2->0; the 255 pixel is skipped.
CONF = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0]])
IOU = [1 / 3, 2 / 3, 0.0]  # I / (gt + pred - I): 1/(2+2-1), 2/(2+3-2), 0/(1+0-0)
ACC = [1 / 2, 1.0, 0.0]


def _sample(pred, gt):
    s = SegDataSample()
    s.pred_sem_seg = torch.as_tensor(pred)
    s.gt_sem_seg = torch.as_tensor(gt)
    return s


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(PRED, GT, 3), CONF)
    out = metrics_from_confusion(CONF)
    np.testing.assert_allclose(out["IoU"], IOU)
    np.testing.assert_allclose(out["Acc"], ACC)
    assert out["mIoU"] == pytest.approx(1 / 3) and out["mAcc"] == pytest.approx(0.5)
    assert out["aAcc"] == pytest.approx(3 / 5)


def test_prediction_out_of_range_is_wrong():
    conf = confusion_matrix(np.array([[7]]), np.array([[0]]), 3)
    assert conf[0, 3] == 1 and metrics_from_confusion(conf)["IoU"][0] == 0.0


def test_metric_accumulates_over_samples_and_classes_absent_everywhere_are_nan():
    metric = METRICS.build(dict(type="IoUMetric"))
    metric.dataset_meta = dict(classes=("bg", "a", "b", "never"))
    half = 2
    metric.process({}, [_sample(PRED[:, :half], GT[:, :half])])
    metric.process({}, [_sample(PRED[:, half:], GT[:, half:]).to_dict()])  # dicts work too
    flat = metric.evaluate(2)
    assert flat["mIoU"] == pytest.approx(1 / 3)  # 'never' (absent from gt and pred) excluded
    assert math.isnan(flat["IoU/never"]) and math.isnan(flat["Acc/never"])
    assert flat["IoU/a"] == pytest.approx(2 / 3) and flat["aAcc"] == pytest.approx(0.6)
    assert flat["mAcc"] == pytest.approx(0.5)


def test_predicted_but_absent_class_counts_as_zero():
    metric = IoUMetric(num_classes=2)
    metric.process({}, [_sample(np.array([[0, 1]]), np.array([[0, 0]]))])
    flat = metric.evaluate(1)
    assert flat["IoU/1"] == 0.0 and flat["IoU/0"] == pytest.approx(0.5) and flat["mIoU"] == pytest.approx(0.25)
    assert math.isnan(flat["Acc/1"]) and flat["mAcc"] == pytest.approx(0.5)  # Acc/0 = 1/2; Acc/1 excluded


def test_results_json_and_table():
    metric = IoUMetric(class_names=("bg", "a", "b", "never"), prefix="val")
    metric.process({}, [_sample(PRED, GT)])
    flat = metric.evaluate(1)
    assert "val/mIoU" in flat
    res = IoUMetric.to_results_json(flat)
    assert set(res) == {"mIoU", "aAcc", "mAcc", "per_class"}
    assert res["per_class"]["a"] == pytest.approx({"IoU": 2 / 3, "Acc": 1.0})
    assert res["per_class"]["never"] == {"IoU": None, "Acc": None}
    json.dumps(res, allow_nan=False)
    table = IoUMetric.format_table(res)
    assert "a" in table and "66.7" in table and "33.3" in table and "60.0" in table and "nan" in table
    assert IoUMetric.format_table(flat) == table


def test_errors():
    with pytest.raises(ValueError, match="classes"):
        IoUMetric().process({}, [_sample(PRED, GT)])
    with pytest.raises(ValueError, match="shape"):
        IoUMetric(num_classes=3).process({}, [_sample(PRED[:, :2], GT)])
