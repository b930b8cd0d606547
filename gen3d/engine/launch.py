"""What ``tools/train.py`` and ``tools/test.py`` do, as library functions that tests can call."""

from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys
from typing import Any

import torch
from mmengine.config import Config

from gen3d.utils.checkpoint import atomic_write_bytes, load_local_checkpoint
from gen3d.utils.config import apply_data_root, check_data_roots, iter_dataset_cfgs, load_config
from gen3d.version import __version__


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config name without .py>``, as mmseg does."""
    return osp.join("work_dirs", osp.splitext(osp.basename(config_path))[0])


def _set_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper(s) to mixed precision: fp16 AMP on CUDA, bf16 autocast on CPU."""
    amp = dict(type="AmpOptimWrapper", loss_scale="dynamic") if torch.cuda.is_available() else dict(
        type="CPUAutocastOptimWrapper", dtype="bfloat16")
    wrapper = cfg.get("optim_wrapper")
    if wrapper is None:
        raise ValueError("--amp needs an optim_wrapper in the config; this config has none.")
    subs = [wrapper] if "optimizer" in wrapper else [v for v in wrapper.values() if isinstance(v, dict)]
    for sub in subs:
        if sub.get("type", "OptimWrapper") in ("AmpOptimWrapper", "CPUAutocastOptimWrapper"):
            continue
        if sub.get("type", "OptimWrapper") != "OptimWrapper":
            raise ValueError(f"--amp cannot replace optim_wrapper type {sub['type']!r}; set it in the config.")
        sub.update(amp)


def set_bad_files(cfg: Config, policy: str) -> list[str]:
    """Set ``bad_files=policy`` on every dataset of the config that checks its files (``--skip-bad-images``).

    Args:
        cfg: The config; changed in place.
        policy: ``'error'``, ``'skip'`` or ``'off'`` (see :mod:`gen3d.datasets.file_check`).

    Returns:
        The dotted keys of the datasets set.

    Raises:
        ValueError: No dataset of the config takes ``bad_files``.
    """
    from gen3d.datasets.file_check import check_bad_files_policy, supports_bad_files
    from gen3d.registry import DATASETS

    check_bad_files_policy(policy)
    keys, types = [], []
    for key, dataset_cfg in iter_dataset_cfgs(cfg):
        type_ = dataset_cfg.get("type")
        cls = type_ if isinstance(type_, type) else DATASETS.get(type_) if isinstance(type_, str) else None
        types.append(str(type_))
        if cls is not None and supports_bad_files(cls):
            dataset_cfg["bad_files"] = policy
            keys.append(key)
    if not keys:
        raise ValueError(f"--skip-bad-images: no dataset of config {cfg.filename} checks its files "
                         f"(dataset types: {', '.join(types) or 'none'})")
    return keys


#: ``--log-to`` name -> (MMEngine visualizer backend, module it needs, how to get it)
LOG_BACKENDS = {"tensorboard": ("TensorboardVisBackend", "tensorboard", "pip install 'gen3d[logging]'"),
                "mlflow": ("MLflowVisBackend", "mlflow", "pip install mlflow"),
                "wandb": ("WandbVisBackend", "wandb", "pip install wandb (it uploads unless WANDB_MODE=offline)")}


def set_log_backends(cfg: Config, names: list[str]) -> list[str]:
    """Add MMEngine visualizer backends (TensorBoard, MLflow, W&B) beside the local JSON logs.

    Each logs the training scalars (losses, learning rate, validation metrics) under the run's log folder
    (``<work_dir>/<timestamp>/vis_data``; MLflow's file store there too unless ``MLFLOW_TRACKING_URI`` is set).

    Raises:
        ValueError: An unknown name, or one whose package is not installed (naming the install command).
    """
    import importlib.util

    added = []
    for name in names:
        if name not in LOG_BACKENDS:
            raise ValueError(f"--log-to: unknown backend {name!r} (choose from {sorted(LOG_BACKENDS)})")
        backend, module, install = LOG_BACKENDS[name]
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"--log-to {name}: the {module} package is not installed ({install})")
        vis = cfg.setdefault("visualizer", dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend")]))
        backends = list(vis.get("vis_backends") or [dict(type="LocalVisBackend")])
        if all(b.get("type") != backend for b in backends):
            backends.append(dict(type=backend))
        vis["vis_backends"] = backends
        added.append(backend)
    return added


def build_train_config(config: str, work_dir: str | None = None, data_root: str | None = None,
                       resume: str | None = None, amp: bool = False, launcher: str = "none",
                       cfg_options: dict[str, Any] | None = None, skip_bad_images: bool = False,
                       log_to: list[str] | None = None) -> Config:
    """Assemble the training config from the CLI contract of ``tools/train.py``.

    Args:
        config: Config file.
        work_dir: Output directory; defaults to ``work_dirs/<config name>``.
        data_root: Point every dataset at this directory.
        resume: ``'auto'`` (latest checkpoint in the work dir), a checkpoint path, or None.
        amp: Mixed precision (fp16 AMP on CUDA, bf16 autocast on CPU).
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'``.
        cfg_options: ``--cfg-options`` overrides (keys must exist, or start with ``+``).
        skip_bad_images: Leave out (logged once) the image and mask files that fail the build-time file check
            instead of stopping with the list (sets ``bad_files='skip'`` on every dataset that checks its files).
        log_to: Extra logging backends (``'tensorboard'``, ``'mlflow'``, ``'wandb'``; :func:`set_log_backends`).

    Returns:
        The config ready for ``Runner.from_cfg``.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config)
    if data_root:
        apply_data_root(cfg, data_root)
    check_data_roots(cfg, ("train_dataloader", "val_dataloader"))
    model_cfg = cfg.get("model") or {}
    if isinstance(model_cfg, dict) and model_cfg.get("feature_cache") and cfg.get("train_dataloader"):
        from gen3d.models.anomaly.feature_cache import check_cacheable_pipeline

        check_cacheable_pipeline(list(cfg.train_dataloader.dataset.get("pipeline") or []))
    if skip_bad_images:
        set_bad_files(cfg, "skip")
    if amp:
        _set_amp(cfg)
    if log_to:
        set_log_backends(cfg, list(log_to))
    if resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif resume:
        if not osp.isfile(resume):
            raise FileNotFoundError(f"--resume checkpoint not found: {resume}")
        cfg.resume, cfg.load_from = True, resume
    return cfg


def check_checkpoint_model(cfg: Config, checkpoint: str) -> dict:
    """Load a checkpoint's meta and refuse one written by another model type.

    Returns:
        The checkpoint's ``meta`` dict (empty for a bare state dict).

    Raises:
        ValueError: The checkpoint says it holds another model than ``cfg.model.type``.
    """
    ckpt = load_local_checkpoint(checkpoint, map_location="cpu")
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    saved, wanted = meta.get("model_type"), str(cfg.model.get("type", "")).split(".")[-1]
    if saved and wanted and saved != wanted:
        raise ValueError(f"Checkpoint {checkpoint} holds a {saved} model, but config {cfg.filename} builds {wanted}.")
    return meta


def build_test_config(config: str, checkpoint: str, work_dir: str | None = None, data_root: str | None = None,
                      show_dir: str | None = None, launcher: str = "none",
                      cfg_options: dict[str, Any] | None = None) -> Config:
    """Assemble the test config from the CLI contract of ``tools/test.py``."""
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config)
    if data_root:
        apply_data_root(cfg, data_root)
    check_data_roots(cfg, ("test_dataloader",))
    check_checkpoint_model(cfg, checkpoint)
    cfg.load_from, cfg.resume = checkpoint, False
    if show_dir:
        vis = cfg.get("default_hooks", {}).get("visualization")
        if vis is None:
            raise ValueError(f"--show-dir: config {cfg.filename} has no default_hooks.visualization to draw with.")
        vis.update(draw=True, show_dir=osp.abspath(show_dir))
    return cfg


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=osp.dirname(osp.abspath(__file__)))
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def collect_environment() -> dict[str, Any]:
    """Versions, devices and command line of this run, as plain JSON data."""
    from mmengine.utils.dl_utils import collect_env

    env = {k: str(v) for k, v in collect_env().items()}
    env.update(gen3d=__version__, git_sha=_git_sha(), argv=" ".join(sys.argv))
    return env


def dump_run_info(cfg: Config, work_dir: str) -> None:
    """Write the resolved config (``config.py``) and the environment (``env.json``) into ``work_dir``."""
    os.makedirs(work_dir, exist_ok=True)
    atomic_write_bytes(cfg.pretty_text.encode(), osp.join(work_dir, "config.py"))
    atomic_write_bytes(json.dumps(collect_environment(), indent=2).encode(), osp.join(work_dir, "env.json"))


def results_to_json(cfg: Config, metrics: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """Turn the flat metrics of ``runner.test()`` into the results JSON of the evaluator's family.

    A metric class may define ``to_results_json(flat) -> dict`` (the anomaly metric writes the DESIGN
    contract ``{"mean": {...}, "per_class": {...}}``) and ``format_table(results) -> str`` (returned under the
    key ``"table"`` for printing); otherwise the flat dict is returned as is. ``thresholds`` are those the
    model decided with (fitted on the validation split and stored in the checkpoint), never ones fitted on
    the test split.
    """
    from gen3d.registry import METRICS

    evaluators = cfg.get("test_evaluator")
    evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
    for ev in evaluators:
        cls = METRICS.get(ev["type"]) if isinstance(ev, dict) and "type" in ev else None
        if cls is not None and hasattr(cls, "to_results_json"):
            results = cls.to_results_json(metrics)
            results.pop("thresholds", None)
            model = model.module if hasattr(model, "module") else model
            if getattr(model, "thresholds", None):
                results["thresholds"] = {k: dict(v) for k, v in model.thresholds.items()}
            if hasattr(cls, "format_table"):
                results["table"] = cls.format_table(results)
            return results
    return {k: (float(v) if hasattr(v, "__float__") else v) for k, v in metrics.items()}
