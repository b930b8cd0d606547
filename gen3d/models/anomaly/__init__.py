"""gen3d.models.anomaly: UniAD (reconstruction transformer, anomaly map, feature cache, full model)."""

from .anomaly_map import ReconstructionAnomalyMap, max_pooled_score, reconstruction_anomaly_map
from .feature_cache import DiskFeatureCache, FeatureCache, MemoryFeatureCache, build_feature_cache
from .uniad import UniAD
from .uniad_reconstruction import UniADReconstruction

__all__ = [
    "DiskFeatureCache",
    "FeatureCache",
    "MemoryFeatureCache",
    "ReconstructionAnomalyMap",
    "UniAD",
    "UniADReconstruction",
    "build_feature_cache",
    "max_pooled_score",
    "reconstruction_anomaly_map",
]
