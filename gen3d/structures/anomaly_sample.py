"""The sample that flows through the anomaly pipeline: dataset -> model -> metric -> visualiser."""

from mmengine.structures import BaseDataElement


class AnomalyDataSample(BaseDataElement):
    """One image of an anomaly-detection dataset, with its ground truth and, after ``predict``, the prediction.

    Meta fields (set once by the dataset / transforms): ``img_path`` (str), ``cls_name`` (str, product class),
    ``defect_type`` (str, ``'good'`` for normal images), ``ori_shape`` (H0, W0), ``img_shape`` (H, W).

    Data fields:
        gt_label: ``torch.long`` scalar, 0 normal, 1 anomalous.
        gt_mask: ``(H, W)`` uint8 tensor in {0, 1} at model resolution; zeros for normal images.
        pred_score: float scalar tensor, image anomaly score (higher is more anomalous).
        anomaly_map: ``(H, W)`` float tensor at model resolution.
        pred_label: ``torch.long`` scalar, decision with the class threshold (only when thresholds exist).
        pred_mask: ``(H, W)`` uint8 tensor, ``anomaly_map >= pixel threshold`` (only when thresholds exist).
    """
