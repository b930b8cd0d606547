"""Carry the per-class decision thresholds from validation into the model and into every checkpoint."""

from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook

from gen3d.registry import HOOKS

THRESHOLD_PREFIX = "threshold/"


def thresholds_from_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Collect ``{'threshold/<cls>/<image|pixel>': t}`` metric entries into ``{cls: {'image': t, 'pixel': t}}``."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith(THRESHOLD_PREFIX):
            cls_name, kind = key[len(THRESHOLD_PREFIX):].rsplit("/", 1)
            out.setdefault(cls_name, {})[kind] = float(value)
    return out


def _unwrap(model: Any) -> Any:
    return model.module if hasattr(model, "module") else model


@HOOKS.register_module()
class AnomalyThresholdHook(Hook):
    """Fit thresholds on the validation split only, store them in checkpoints, restore them on load.

    After each validation the metric's ``threshold/<cls>/...`` entries (F1-adaptive where the validation split
    holds defects, otherwise a quantile of normal scores) are written to ``model.thresholds``. Thresholds are
    never taken from a test run. ``checkpoint['meta']['thresholds']`` holds them; loading a checkpoint (resume,
    ``tools/test.py``, ``tools/infer.py``) puts them back on the model.
    """

    priority = "ABOVE_NORMAL"  # before CheckpointHook saves the best checkpoint in after_val_epoch

    def after_val_epoch(self, runner: Any, metrics: dict[str, Any] | None = None) -> None:
        """Copy the thresholds fitted on the validation split to the model."""
        fitted = thresholds_from_metrics(metrics or {})
        if fitted:
            _unwrap(runner.model).thresholds = fitted

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Store the model's thresholds in the checkpoint meta."""
        checkpoint.setdefault("meta", {})["thresholds"] = dict(getattr(_unwrap(runner.model), "thresholds", {}))

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Restore thresholds saved in the checkpoint meta."""
        saved = checkpoint.get("meta", {}).get("thresholds")
        if saved:
            _unwrap(runner.model).thresholds = {k: dict(v) for k, v in saved.items()}
