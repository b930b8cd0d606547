"""PatchCore (arXiv 2106.08265): per-class coreset memory banks over a frozen backbone, kNN patch scores."""

from .coreset import coreset_indices, coreset_size, k_center_greedy, random_projection
from .hooks import PatchCoreFitHook
from .memory_bank import MemoryBanks
from .model import PATCHCORE_OUT_BLOCKS, PatchCore
from .scoring import PatchCoreAnomalyMap, euclidean_distances, nearest_neighbors, reweighted_image_score

__all__ = [
    "PATCHCORE_OUT_BLOCKS", "MemoryBanks", "PatchCore", "PatchCoreAnomalyMap", "PatchCoreFitHook", "coreset_indices",
    "coreset_size", "euclidean_distances", "k_center_greedy", "nearest_neighbors", "random_projection",
    "reweighted_image_score",
]
