"""gen3d.evaluation.metrics: registered metrics and the pure functions behind them."""

from .anomaly_functional import (
    AUPRO_FPR_LIMIT,
    average_precision,
    f1_max,
    image_auroc,
    pixel_aupro,
    pixel_auroc,
)
from .anomaly_metric import METRIC_KEYS, AnomalyMetric
from .anomaly_report import format_table, to_results_json
from .iou_metric import IoUMetric
from .thresholds import DEFAULT_NORMAL_QUANTILE, f1_adaptive_threshold, normal_quantile_threshold

__all__ = [
    "AUPRO_FPR_LIMIT",
    "DEFAULT_NORMAL_QUANTILE",
    "METRIC_KEYS",
    "AnomalyMetric",
    "IoUMetric",
    "average_precision",
    "f1_adaptive_threshold",
    "f1_max",
    "format_table",
    "image_auroc",
    "normal_quantile_threshold",
    "pixel_aupro",
    "pixel_auroc",
    "to_results_json",
]
