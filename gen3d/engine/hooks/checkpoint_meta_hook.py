"""Checkpoint meta data and random-state continuity across resume."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from gen3d.registry import HOOKS
from gen3d.version import __version__


def get_rng_state() -> dict[str, Any]:
    """Capture python, numpy and torch random states as plain data (tensors, ints, lists).

    Returns:
        A dict that :func:`torch.load` with ``weights_only=True`` can read back.
    """
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def history_buffers_to_data(message_hub: dict) -> None:
    """Replace the ``HistoryBuffer`` objects of a message-hub state dict by plain tensors, in place.

    A pickled ``HistoryBuffer`` carries bound methods (it pickles through ``getattr``), which a
    ``weights_only`` load must not accept; tensors and ints load as data.
    """
    scalars = message_hub.get("log_scalars", {})
    for key, buf in list(scalars.items()):
        if isinstance(buf, HistoryBuffer):
            log, count = buf.data
            scalars[key] = {"__history_buffer__": True, "log_history": torch.as_tensor(np.asarray(log)),
                            "count_history": torch.as_tensor(np.asarray(count)), "max_length": int(buf.max_length)}


def history_buffers_from_data(message_hub: dict) -> None:
    """Inverse of :func:`history_buffers_to_data`, in place."""
    scalars = message_hub.get("log_scalars", {})
    for key, buf in list(scalars.items()):
        if isinstance(buf, dict) and buf.get("__history_buffer__"):
            scalars[key] = HistoryBuffer(buf["log_history"].numpy(), buf["count_history"].numpy(), buf["max_length"])


@HOOKS.register_module()
class CheckpointMetaHook(Hook):
    """Write gen3d meta into every checkpoint and make resume continue the exact random stream.

    Saved under ``checkpoint['meta']``: ``gen3d_version``, ``torch_version``, ``model_type`` (the model's
    class name, checked when a checkpoint is loaded into another model) and ``rng_state``.

    Validation is made neutral to the training random stream: the states are captured before validation
    and restored after it. A checkpoint saved at the end of an epoch therefore holds exactly the state the
    next epoch starts from, and a run killed mid-epoch then resumed ends with the same weights as one that
    ran through, given deterministic kernels, with any ``num_workers`` (persistent workers included): gen3d's Runner
    draws each sample's augmentation from the sample's key, never from the workers' or the training process's
    random state (:mod:`gen3d.datasets.seeding`).
    """

    priority = "VERY_HIGH"

    def __init__(self) -> None:
        self._val_saved_state: dict | None = None
        self._resumed_state: dict | None = None

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Add meta and the random state (the pre-validation state when saving during validation)."""
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        meta = checkpoint.setdefault("meta", {})
        meta["gen3d_version"] = __version__
        meta["torch_version"] = str(torch.__version__)
        meta["model_type"] = type(model).__name__
        meta["rng_state"] = self._val_saved_state if self._val_saved_state is not None else get_rng_state()
        if isinstance(checkpoint.get("message_hub"), dict):
            history_buffers_to_data(checkpoint["message_hub"])

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Remember the saved random state; it is applied in :meth:`before_train`, after any re-seeding."""
        self._resumed_state = checkpoint.get("meta", {}).get("rng_state")
        if isinstance(checkpoint.get("message_hub"), dict):
            history_buffers_from_data(checkpoint["message_hub"])

    def before_train(self, runner: Any) -> None:
        """Apply the random state of a resumed checkpoint."""
        if self._resumed_state is not None and getattr(runner, "_resume", False):
            set_rng_state(self._resumed_state)
        self._resumed_state = None

    def before_val(self, runner: Any) -> None:
        """Capture the training random state before validation."""
        self._val_saved_state = get_rng_state()

    def after_val(self, runner: Any) -> None:
        """Restore the training random state after validation."""
        if self._val_saved_state is not None:
            set_rng_state(self._val_saved_state)
        self._val_saved_state = None
