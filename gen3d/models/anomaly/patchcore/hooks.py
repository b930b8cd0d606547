"""The hook that turns PatchCore's collected training features into memory banks at the end of the epoch."""

from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook

from gen3d.registry import HOOKS


def _unwrap(model: Any) -> Any:
    return model.module if hasattr(model, "module") else model


@HOOKS.register_module()
class PatchCoreFitHook(Hook):
    """Build PatchCore's per-class coreset banks after the training epoch that collected the features.

    Runs before ``CheckpointHook`` (priority ``ABOVE_NORMAL`` vs ``VERY_LOW``) so ``epoch_N.pth`` holds the banks,
    and before the validation that fits the thresholds. Each training epoch starts a fresh collection (PatchCore's
    schedule is one epoch; more epochs only refit the same banks).
    """

    priority = "ABOVE_NORMAL"

    def before_train_epoch(self, runner: Any) -> None:
        """Start a fresh collection."""
        _unwrap(runner.model).reset_collection()

    def after_train_epoch(self, runner: Any) -> None:
        """Fit the banks from this epoch's features."""
        model = _unwrap(runner.model)
        if model.has_pending_features:
            model.fit_memory_banks()
