"""Cross-cutting hooks only (checkpoint meta, visualisation, EMA); algorithm logic lives in the models."""

from .checkpoint_meta_hook import CheckpointMetaHook, get_rng_state, set_rng_state

__all__ = ["CheckpointMetaHook", "get_rng_state", "set_rng_state"]
