"""gen3d's Runner: mmengine's Runner with CPU distributed training, safe checkpoints and resumable RNG state."""

from __future__ import annotations

import copy

import torch
from mmengine.dist import is_distributed
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.runner import Runner as MMEngineRunner

from gen3d.registry import MODEL_WRAPPERS, RUNNERS
from gen3d.utils import checkpoint as _checkpoint  # noqa: F401 - installs the safe loader and atomic writer
from gen3d.utils.checkpoint import find_resumable_checkpoint
from gen3d.utils.dist import init_cpu_dist


def check_ddp_supports_model(model: torch.nn.Module, wrapper_type: str) -> None:
    """Refuse a distributed wrapper that would silently skip the model's own ``train_step``.

    mmengine's ``MMDistributedDataParallel.train_step`` runs ``forward(mode='loss')`` and never calls the
    module's ``train_step``; a model that writes its own step (teacher-student, FST, GAN phases) would then train
    supervised-only without any error. :class:`gen3d.engine.model_wrappers.GradSyncDataParallel` (chosen by
    :meth:`Runner.wrap_model` when no wrapper is configured) and ``MMSeparateDistributedDataParallel`` (one DDP per
    submodule; gen3d's GANs) call the module's ``train_step`` and are accepted.

    Raises:
        TypeError: Naming the model and the wrapper.
    """
    own_step = type(model).train_step is not BaseModel.train_step
    if own_step and wrapper_type in ("MMDistributedDataParallel", "DistributedDataParallel"):
        raise TypeError(
            f"{type(model).__name__} writes its own train_step, which {wrapper_type} would bypass (it only runs "
            "forward(mode='loss')). Leave model_wrapper_cfg unset (GradSyncDataParallel: one optimizer) or set "
            "dict(type='MMSeparateDistributedDataParallel') for models that synchronise their own gradients "
            "(gen3d's GANs).")


def _strip_wrapper_prefix(module: torch.nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """State-dict hook of a wrapper inside the model: ``<prefix>module.<key>`` -> ``<prefix><key>``, order kept."""
    inner = prefix + "module."
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        state_dict[prefix + key[len(inner):] if key.startswith(inner) else key] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in [k for k in metadata if k == inner[:-1] or k.startswith(inner)]:
            metadata[prefix + key[len(inner):] if key.startswith(inner) else prefix[:-1]] = metadata.pop(key)


def unprefix_nested_wrappers(wrapper: torch.nn.Module) -> None:
    """Make a model wrapped per submodule save the same state-dict keys as the bare model.

    ``MMSeparateDistributedDataParallel`` replaces ``model.generator`` by a DDP around it, so ``state_dict()`` (what
    mmengine writes into checkpoints) would say ``generator.module.<...>``, while mmengine's loader looks through
    nested wrappers and expects ``generator.<...>``: a resumed run, or a single-process test of a distributed
    checkpoint, would silently load nothing. A hook on each inner wrapper drops its ``module.`` level.
    """
    if not is_model_wrapper(wrapper):
        return
    for sub in wrapper.module.modules():
        if sub is not wrapper.module and is_model_wrapper(sub) and not getattr(sub, "_gen3d_unprefixed", False):
            sub.register_state_dict_post_hook(_strip_wrapper_prefix)
            sub._gen3d_unprefixed = True


@RUNNERS.register_module()
class Runner(MMEngineRunner):
    """The Runner every gen3d tool builds (``Runner.from_cfg(cfg)``).

    Differences from mmengine's Runner, each fixed here and nowhere else:

    * ``--launcher pytorch|slurm`` works on CPU-only machines: the process group is created with gloo
      (:func:`gen3d.utils.dist.init_cpu_dist`) and DDP (also ``MMSeparateDistributedDataParallel``'s per-submodule
      DDPs) is built with ``device_ids=None``.
    * A wrapper that would bypass the model's own ``train_step`` is refused (:func:`check_ddp_supports_model`);
      per-submodule wrappers save the bare model's state-dict keys (:func:`unprefix_nested_wrappers`).
    * Checkpoints load with ``weights_only=True`` and are written atomically (:mod:`gen3d.utils.checkpoint`);
      auto-resume falls back to the newest ``epoch_N``/``iter_N`` checkpoint when ``last_checkpoint`` is empty or
      dangling (:func:`gen3d.utils.checkpoint.find_resumable_checkpoint`).
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
        if self.distributed and model_wrapper_cfg is None and type(model).train_step is not BaseModel.train_step:
            # A model with its own step (teacher-student, FST) keeps it: gradients are averaged per optimizer step.
            model_wrapper_cfg = dict(type="GradSyncDataParallel")
            self.logger.info(f"{type(model).__name__} writes its own train_step: wrapped in GradSyncDataParallel")
        if self.distributed:
            check_ddp_supports_model(model, (model_wrapper_cfg or {}).get("type", "MMDistributedDataParallel"))
        wrapper_type = (model_wrapper_cfg or {}).get("type")
        if isinstance(wrapper_type, str) and "." not in wrapper_type and wrapper_type in MODEL_WRAPPERS.module_dict:
            # mmengine looks the wrapper up in its root registry, which does not search children: name the scope.
            model_wrapper_cfg = {**model_wrapper_cfg, "type": f"{MODEL_WRAPPERS.scope}.{wrapper_type}"}
        if self.distributed and not torch.cuda.is_available():
            model_wrapper_cfg = copy.deepcopy(model_wrapper_cfg) if model_wrapper_cfg else {}
            model_wrapper_cfg.setdefault("type", "MMDistributedDataParallel")
            model_wrapper_cfg.setdefault("device_ids", None)
            model_wrapper_cfg.setdefault("find_unused_parameters", self.cfg.get("find_unused_parameters", False))
        wrapped = super().wrap_model(model_wrapper_cfg, model)
        unprefix_nested_wrappers(wrapped)
        return wrapped

    def load_or_resume(self) -> None:
        """Load or resume; ``--resume`` (auto) tolerates an empty or dangling ``last_checkpoint`` file.

        See :func:`gen3d.utils.checkpoint.find_resumable_checkpoint`.
        """
        if not self._has_loaded and self._resume and self._load_from is None:
            latest = find_resumable_checkpoint(self.work_dir)
            if latest is not None:
                self.logger.info(f"Auto resumed from the latest checkpoint {latest}.")
                self._load_from = latest
        super().load_or_resume()

    def register_hooks(self, default_hooks: dict | None = None, custom_hooks: list | None = None) -> None:
        """Register the configured hooks plus the checkpoint-meta hook (once)."""
        super().register_hooks(default_hooks, custom_hooks)
        if not any(type(h).__name__ == "CheckpointMetaHook" for h in self.hooks):
            self.register_hook(dict(type="CheckpointMetaHook"))
