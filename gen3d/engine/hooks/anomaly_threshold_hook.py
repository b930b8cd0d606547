"""Carry the per-class decision thresholds from validation into the model and into every checkpoint.

Checkpoint meta written by :class:`AnomalyThresholdHook`:

* ``thresholds``: ``{cls: {'image': t, 'pixel': t}}`` fitted by the validation of exactly the weights in the file,
  or ``{}`` when those weights were never validated (an epoch before ``val_begin``, between validations, or
  a validation that fitted none). This is what ``tools/test.py``, ``tools/infer.py`` and ``tools/deploy.py`` use.
* ``last_val_thresholds``: the model's thresholds at save time (the latest validation, possibly of earlier
  weights). Only a resumed run reads them, so that it decides exactly like the uninterrupted run.
"""

from __future__ import annotations

import os.path as osp
from logging import WARNING
from typing import Any

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from gen3d.registry import HOOKS
from gen3d.utils.checkpoint import load_local_checkpoint, save_checkpoint_file

THRESHOLD_PREFIX = "threshold/"
RESUME_KEY = "last_val_thresholds"

Thresholds = dict[str, dict[str, float]]


def thresholds_from_metrics(metrics: dict[str, Any]) -> Thresholds:
    """Collect ``{'threshold/<cls>/<image|pixel>': t}`` metric entries into ``{cls: {'image': t, 'pixel': t}}``."""
    out: Thresholds = {}
    for key, value in metrics.items():
        if key.startswith(THRESHOLD_PREFIX):
            cls_name, kind = key[len(THRESHOLD_PREFIX):].rsplit("/", 1)
            out.setdefault(cls_name, {})[kind] = float(value)
    return out


def _copy(thresholds: dict | None) -> Thresholds:
    return {k: dict(v) for k, v in (thresholds or {}).items()}


def _unwrap(model: Any) -> Any:
    return model.module if hasattr(model, "module") else model


@HOOKS.register_module()
class AnomalyThresholdHook(Hook):
    """Fit thresholds on the validation split only, store them in checkpoints, restore them on load.

    After each validation the metric's ``threshold/<cls>/...`` entries (by its ``threshold_rule``: by default
    F1-adaptive where the validation split holds defects, otherwise a quantile of normal scores) are written to
    ``model.thresholds``. Thresholds are
    never taken from a test run. Loading a checkpoint (``tools/test.py``, ``load_from``) puts its ``thresholds``
    back on the model and warns when it has none; resuming restores ``last_val_thresholds``.

    mmengine's ``CheckpointHook`` writes ``epoch_N.pth`` in ``after_train_epoch`` (``iter_N.pth`` in
    ``after_train_iter``), *before* the train loop runs that step's validation, so the file cannot yet hold the
    thresholds of its own weights. Such a file is written with ``thresholds = {}`` and remembered; when the
    validation of the same weights follows (no training iteration in between), :meth:`after_val_epoch`
    rewrites its thresholds. This is preferred over postponing the save until after validation because:

    * the checkpoint is written at the same moment with the same content (optimizer, schedulers, loop counters,
      message hub, random state), so resuming from it is unchanged, and a validation that crashes still leaves
      the epoch's checkpoint (honestly claiming no thresholds);
    * it needs neither a replacement ``CheckpointHook`` nor a copy of the loop's rules for when validation
      runs (``val_begin``, ``val_interval``, dynamic intervals, last epoch), and works alike for epoch- and
      iteration-based loops; ``max_keep_ckpts``, ``last_checkpoint`` and best-checkpoint logic stay mmengine's;
    * the rewrite loads with ``weights_only=True`` and writes atomically (temporary file, fsync, rename) through
      :mod:`gen3d.utils.checkpoint`, so a crash during it leaves the complete file as first written;
    * only the process that saved the file rewrites it: ``Runner.save_checkpoint`` is master-only, so in a
      distributed run only rank 0 remembers a file (and the rewrite is guarded by ``is_main_process`` too).

    The cost is one extra read and write of the checkpoint per validated save.
    """

    priority = "ABOVE_NORMAL"  # before CheckpointHook's after_val_epoch saves the best checkpoint

    def __init__(self) -> None:
        self._fitted: Thresholds | None = None  # fitted for the current weights; None once they have changed
        self._pending: tuple[str, Any, Any] | None = None  # (path, meta epoch, meta iter) saved since training

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        """The weights are about to change: thresholds and the last saved file no longer describe them."""
        self._fitted = None
        self._pending = None

    def after_val_epoch(self, runner: Any, metrics: dict[str, Any] | None = None) -> None:
        """Copy the thresholds fitted on the validation split to the model and to this step's checkpoint."""
        fitted = thresholds_from_metrics(metrics or {})
        if fitted:
            _unwrap(runner.model).thresholds = _copy(fitted)
            self._fitted = _copy(fitted)
            if self._pending is not None and is_main_process():
                self._rewrite_pending(fitted)
        self._pending = None

    def before_test_epoch(self, runner: Any) -> None:
        """A test run reports the thresholds the model decides with (the checkpoint's) and fits none.

        Thresholds fitted on the test split would be printed beside results that never used them (decisions
        and ``results.json`` use the stored ones); each metric that can is told to report the stored ones.
        """
        stored = _copy(getattr(_unwrap(runner.model), "thresholds", {}))
        for metric in getattr(getattr(runner, "test_evaluator", None), "metrics", []):
            if hasattr(metric, "use_stored_thresholds"):
                metric.use_stored_thresholds(stored)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Store the thresholds of these weights (if validated) and, for resuming, the model's current ones."""
        meta = checkpoint.setdefault("meta", {})
        meta["thresholds"] = _copy(self._fitted)
        meta[RESUME_KEY] = _copy(getattr(_unwrap(runner.model), "thresholds", {}))
        if self._fitted is None:  # saved before validating these weights: remember the file for after_val_epoch
            message_hub = getattr(runner, "message_hub", None)
            path = message_hub.get_info("last_ckpt") if message_hub is not None else None
            self._pending = (str(path), meta.get("epoch"), meta.get("iter")) if path else None

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Restore the checkpoint's thresholds (on resume: the model's thresholds when it was saved)."""
        meta = checkpoint.get("meta", {}) or {}
        saved = meta.get("thresholds") or {}
        model = _unwrap(runner.model)
        self._fitted, self._pending = (_copy(saved) or None), None
        if getattr(runner, "_resume", False) and RESUME_KEY in meta:
            model.thresholds = _copy(meta[RESUME_KEY])
        elif saved:
            model.thresholds = _copy(saved)
        elif not getattr(runner, "_resume", False):
            print_log("The checkpoint carries no decision thresholds: its weights were not validated (saved before "
                      "the first validation, or between validations). Predictions get scores and maps but no "
                      "pred_label/pred_mask; use a validated checkpoint (best_*.pth, or epoch_N.pth of an epoch "
                      "that ran validation).", logger="current", level=WARNING)

    def _rewrite_pending(self, fitted: Thresholds) -> None:
        """Write ``fitted`` into the checkpoint saved just before this validation, atomically."""
        path, epoch, it = self._pending
        if not osp.isfile(path):
            print_log(f"Cannot add the validation thresholds to {path} (not a local file); it claims none. "
                      "The best checkpoint carries them.", logger="current", level=WARNING)
            return
        try:
            checkpoint = load_local_checkpoint(path, map_location="cpu")
            meta = checkpoint.setdefault("meta", {})
            if (meta.get("epoch"), meta.get("iter")) != (epoch, it):
                print_log(f"{path} was replaced since it was saved (epoch/iter {meta.get('epoch')}/{meta.get('iter')}"
                          f", expected {epoch}/{it}); its thresholds are left as they are.", logger="current",
                          level=WARNING)
                return
            meta["thresholds"] = _copy(fitted)
            meta[RESUME_KEY] = _copy(fitted)
            save_checkpoint_file(checkpoint, path)
        except (OSError, RuntimeError) as err:  # the file as first written stays intact (atomic write)
            print_log(f"Could not add the validation thresholds to {path}: {err}. It claims none.",
                      logger="current", level=WARNING)
