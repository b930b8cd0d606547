"""gen3d.evaluation.metrics: registered metrics and the pure functions behind them."""

from . import geometry_functional, geometry_metric, multiview_metric  # noqa: F401 (GeometryMetric, MultiViewConsistency)
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
from .depthgan_metric import DepthBinAccuracy, RotEval
from .fid_inception import FID_INCEPTION_URL, FIDInceptionV3
from .fid_metric import FrechetInceptionDistance
from .generated_depth_metric import GeneratedDepthError
from .generative_base import GenerativeMetric, build_feature_extractor, resolve_feature_extractor
from .generative_functional import compute_fid, compute_kid, extract_features, frechet_distance
from .iou_metric import IoUMetric
from .kid_metric import KernelInceptionDistance
from .reconstruction import ReconstructionMetric
from .thresholds import DEFAULT_NORMAL_QUANTILE, f1_adaptive_threshold, normal_quantile_threshold

__all__ = [
    "AUPRO_FPR_LIMIT",
    "DEFAULT_NORMAL_QUANTILE",
    "FID_INCEPTION_URL",
    "FIDInceptionV3",
    "METRIC_KEYS",
    "ReconstructionMetric",
    "AnomalyMetric",
    "DepthBinAccuracy",
    "FrechetInceptionDistance",
    "GeneratedDepthError",
    "GenerativeMetric",
    "IoUMetric",
    "KernelInceptionDistance",
    "RotEval",
    "average_precision",
    "build_feature_extractor",
    "compute_fid",
    "compute_kid",
    "extract_features",
    "f1_adaptive_threshold",
    "f1_max",
    "format_table",
    "frechet_distance",
    "image_auroc",
    "normal_quantile_threshold",
    "pixel_aupro",
    "pixel_auroc",
    "resolve_feature_extractor",
    "to_results_json",
]
