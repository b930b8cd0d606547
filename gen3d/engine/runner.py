"""gen3d's Runner: mmengine's Runner with CPU distributed training, safe checkpoints and resumable RNG state."""

from __future__ import annotations

import copy

import torch
from mmengine.dist import is_distributed
from mmengine.runner import Runner as MMEngineRunner

from gen3d.registry import RUNNERS
from gen3d.utils import checkpoint as _checkpoint  # noqa: F401 - installs the safe loader and atomic writer
from gen3d.utils.dist import init_cpu_dist


@RUNNERS.register_module()
class Runner(MMEngineRunner):
    """The Runner every gen3d tool builds (``Runner.from_cfg(cfg)``).

    Differences from mmengine's Runner, each fixed here and nowhere else:

    * ``--launcher pytorch|slurm`` works on CPU-only machines: the process group is created with gloo
      (:func:`gen3d.utils.dist.init_cpu_dist`) and DDP is built with ``device_ids=None``.
    * Checkpoints load with ``weights_only=True`` and are written atomically (:mod:`gen3d.utils.checkpoint`).
    * :class:`gen3d.engine.hooks.CheckpointMetaHook` is always registered, so checkpoints carry the gen3d
      version and model type and a resumed run continues the same random stream as an uninterrupted one.
    """

    def setup_env(self, env_cfg: dict) -> None:
        """Set up the environment; on CPU-only machines start the gloo process group first."""
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            dist_cfg = env_cfg.get("dist_cfg", {}) or {}
            timeout = dist_cfg.get("timeout", 1800)
            init_cpu_dist(self.launcher, timeout_s=int(getattr(timeout, "total_seconds", lambda: timeout)()))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: dict | None, model: torch.nn.Module) -> torch.nn.Module:
        """Wrap the model for distributed training; CPU modules get ``device_ids=None`` (DDP rejects ids)."""
        if self.distributed and not torch.cuda.is_available():
            model_wrapper_cfg = copy.deepcopy(model_wrapper_cfg) if model_wrapper_cfg else {}
            model_wrapper_cfg.setdefault("type", "MMDistributedDataParallel")
            model_wrapper_cfg.setdefault("device_ids", None)
            model_wrapper_cfg.setdefault("find_unused_parameters", self.cfg.get("find_unused_parameters", False))
        return super().wrap_model(model_wrapper_cfg, model)

    def register_hooks(self, default_hooks: dict | None = None, custom_hooks: list | None = None) -> None:
        """Register the configured hooks plus the checkpoint-meta hook (once)."""
        super().register_hooks(default_hooks, custom_hooks)
        if not any(type(h).__name__ == "CheckpointMetaHook" for h in self.hooks):
            self.register_hook(dict(type="CheckpointMetaHook"))
