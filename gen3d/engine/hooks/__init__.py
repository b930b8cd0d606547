"""Cross-cutting hooks only (checkpoint meta, thresholds, visualisation); algorithm logic lives in the models."""

from .anomaly_threshold_hook import AnomalyThresholdHook, thresholds_from_metrics
from .anomaly_visualization_hook import AnomalyVisualizationHook
from .checkpoint_meta_hook import CheckpointMetaHook, get_rng_state, set_rng_state
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = [
    "AnomalyThresholdHook", "AnomalyVisualizationHook", "CheckpointMetaHook", "SafeCheckpointHook", "get_rng_state",
    "set_rng_state", "thresholds_from_metrics",
]

from .gan_sample_hook import GANSampleHook  # noqa: E402

__all__ += ["GANSampleHook"]
