"""Small helpers: safe checkpoints, config checks, environment dumps, CPU distributed start-up."""

from .checkpoint import CorruptCheckpointError, UnsafeCheckpointError, load_local_checkpoint, save_checkpoint_file

__all__ = ["CorruptCheckpointError", "UnsafeCheckpointError", "load_local_checkpoint", "save_checkpoint_file"]
