"""gen3d.models.anomaly: UniAD and PatchCore.

UniAD: the reconstruction transformer and its blocks, anomaly map, feature cache, full model. PatchCore: its
per-class baseline (one coreset memory bank per class in one model).
"""

from .anomaly_map import ReconstructionAnomalyMap, max_pooled_score, reconstruction_anomaly_map
from .attention import FastDropout, MaskedMultiheadAttention, fast_dropout
from .feature_cache import DiskFeatureCache, FeatureCache, MemoryFeatureCache, build_feature_cache
from .neighbor_mask import neighbor_mask, neighbor_size_for_grid
from .patchcore import PatchCore, PatchCoreFitHook
from .position_embedding import LearnedPositionEmbedding2d
from .uniad import UniAD
from .uniad_reconstruction import UniADReconstruction
from .uniad_transformer import UniADDecoderLayer, UniADEncoderLayer

__all__ = [
    "DiskFeatureCache",
    "FastDropout",
    "FeatureCache",
    "LearnedPositionEmbedding2d",
    "MaskedMultiheadAttention",
    "MemoryFeatureCache",
    "PatchCore",
    "PatchCoreFitHook",
    "ReconstructionAnomalyMap",
    "UniAD",
    "UniADDecoderLayer",
    "UniADEncoderLayer",
    "UniADReconstruction",
    "build_feature_cache",
    "fast_dropout",
    "max_pooled_score",
    "neighbor_mask",
    "neighbor_size_for_grid",
    "reconstruction_anomaly_map",
]
