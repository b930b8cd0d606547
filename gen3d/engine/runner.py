"""gen3d's Runner: mmengine's Runner with CPU distributed training, safe checkpoints and resumable RNG state."""

from __future__ import annotations

import copy
import os.path as osp

import torch
from mmengine.dist import is_distributed
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.runner import BaseLoop
from mmengine.runner import Runner as MMEngineRunner
from torch.utils.data import DataLoader

from gen3d.datasets.seeding import seeded_dataloader, set_loader_seed
from gen3d.registry import MODEL_WRAPPERS, RUNNERS
from gen3d.utils import checkpoint as _checkpoint  # noqa: F401 - installs the safe loader and atomic writer
from gen3d.utils.checkpoint import ResumeError, load_local_checkpoint, pick_resumable_checkpoint
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
      auto-resume falls back to the newest readable ``epoch_N``/``iter_N`` checkpoint when ``last_checkpoint`` is
      empty, dangling or names a truncated file, and a checkpoint of another model is refused before anything is
      loaded (:meth:`load_or_resume`).
    * :class:`gen3d.engine.hooks.CheckpointMetaHook` is always registered, so checkpoints carry the gen3d
      version and model type and a resumed run continues the same random stream as an uninterrupted one.
    * Every loader built with a seed draws each sample's augmentation from the sample's key, (seed, epoch, rank,
      position), and never from the training process's generators (:mod:`gen3d.datasets.seeding`): a resumed run
      is bit-identical to an uninterrupted one with any ``num_workers``, persistent workers included.
    """

    @staticmethod
    def build_dataloader(dataloader: DataLoader | dict, seed: int | None = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """Build mmengine's loader; from a config with a seed, it is keyed per sample (see the class docstring)."""
        loader = MMEngineRunner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if seed is None or isinstance(dataloader, DataLoader):
            return loader
        return seeded_dataloader(loader, seed)

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
        """Load or resume, refusing a checkpoint this run cannot continue from before mmengine touches anything.

        ``--resume`` (auto) takes the newest *readable* checkpoint of the work directory, skipping truncated ones
        with a warning (:func:`gen3d.utils.checkpoint.pick_resumable_checkpoint`) and tolerating an empty or
        dangling ``last_checkpoint``; with nothing to resume from it trains from scratch. A checkpoint of another
        model type, or one without training state, raises :class:`~gen3d.utils.checkpoint.ResumeError`; an
        unreadable one named explicitly raises :class:`~gen3d.utils.checkpoint.CorruptCheckpointError` (both are
        :class:`~gen3d.utils.checkpoint.CheckpointError`, a ``ValueError``, with one message naming the file).
        """
        if not self._has_loaded and self._resume:
            if self._load_from is None:
                found = pick_resumable_checkpoint(self.work_dir, warn=self.logger.warning)
                if found is None:
                    self.logger.info(f"--resume: no checkpoint in {self.work_dir}; training from scratch.")
                    self._resume = False
                else:
                    self.logger.info(f"Auto resumed from the latest checkpoint {found[0]}.")
                    self._load_from = found[0]
                    self._check_resumable(*found)
            elif osp.isfile(self._load_from):  # other sources (URLs) are left to mmengine
                self._check_resumable(self._load_from, load_local_checkpoint(self._load_from, "cpu", mmap=True))
        super().load_or_resume()
        if self._resume and isinstance(self._train_loop, BaseLoop):
            set_loader_seed(self.train_dataloader, self.seed)  # the checkpoint's seed, set by mmengine's resume

    def train(self) -> torch.nn.Module:
        """Train (mmengine's ``train``), then stop the persistent workers of the training and validation loaders.

        Left to the garbage collector, a loader with persistent workers that sits in a reference cycle (a runner)
        waits 5 s per worker before killing it; stopped here they exit at once (a later pass starts new ones).
        """
        try:
            return super().train()
        finally:
            for loop in (self._train_loop, self._val_loop):
                loader = getattr(loop, "dataloader", None)
                iterator = getattr(loader, "_iterator", None)  # set only for persistent workers
                if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                    iterator._shutdown_workers()
                    loader._iterator = None

    def _check_resumable(self, path: str, checkpoint: dict) -> None:
        """Raise :class:`ResumeError` unless ``checkpoint`` holds this model's training state."""
        meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
        if not isinstance(meta, dict) or "epoch" not in meta or "iter" not in meta:
            raise ResumeError(f"Cannot resume from {path}: it holds no training state (no meta.epoch/meta.iter, e.g. a "
                              "bare state dict); start a new run from its weights with load_from instead.")
        model = self.model.module if is_model_wrapper(self.model) else self.model
        saved, wanted = meta.get("model_type"), type(model).__name__
        if saved and saved != wanted:
            raise ResumeError(f"Cannot resume from {path}: it holds a {saved} model, but this config builds {wanted}.")

    def register_hooks(self, default_hooks: dict | None = None, custom_hooks: list | None = None) -> None:
        """Register the configured hooks plus the checkpoint-meta hook (once)."""
        super().register_hooks(default_hooks, custom_hooks)
        if not any(type(h).__name__ == "CheckpointMetaHook" for h in self.hooks):
            self.register_hook(dict(type="CheckpointMetaHook"))
