"""What ``tools/deploy.py`` does: checkpoint -> ONNX (+ int8 Q/DQ) -> parity gates -> manifest (+ TensorRT engine).

This module is the dispatcher: :data:`BUILDERS` maps the deploy config's task to its builder
(:mod:`~gen3d.deploy.anomaly_bundle`, :mod:`~gen3d.deploy.segmentation_bundle`, :mod:`~gen3d.deploy.gan_bundle`);
the parts they share live in :mod:`gen3d.deploy.bundle_common`, their parity gates in :mod:`gen3d.deploy.parity`.

Deploy configs (``deploy/*.py``) hold three dicts::

    onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                       input_shape=None,          # (H, W) of the image input; None = the model's input size
                       dynamic_batch=True, batch_size=1, simplify=True)
    codebase_config = dict(type='gen3d', task='anomaly', mode='end2end')      # or mode='raw'; task='segmentation':
                                                          # + output='logits' | 'label_map' (segmentation_bundle.py)
    backend_config = dict(type='onnxruntime' | 'tensorrt', precision='fp32' | 'fp16' | 'int8',
                          quantization=dict(...),   # int8: kwargs of gen3d.deploy.quantize.quantize_qdq
                          runtime=dict(...),        # ONNX Runtime session hints written to the manifest
                          common_config=..., model_inputs=[...])   # tensorrt: see gen3d.deploy.tensorrt_builder
"""

from __future__ import annotations

import importlib
import os.path as osp

import torch
from mmengine.config import Config

from .parity import AUROC_TOLERANCE, DEFAULT_GATE_IMAGES, LABEL_MARGIN

#: task -> (module, builder, default number of gate images)
BUILDERS = {"anomaly": ("gen3d.deploy.anomaly_bundle", "build_anomaly_bundle", DEFAULT_GATE_IMAGES),
            "segmentation": ("gen3d.deploy.segmentation_bundle", "build_segmentation_bundle", 16),
            "generation": ("gen3d.deploy.gan_bundle", "build_gan_bundle", 16)}
TASK_CONFIGS = {"anomaly": "deploy/anomaly_onnxruntime-fp32_dynamic-batch.py",
                "segmentation": "deploy/segmentation_onnxruntime-fp32_dynamic-batch.py",
                "generation": "deploy/gan_onnxruntime_fp32_dynamic.py"}


def model_family(model: torch.nn.Module) -> str | None:
    """The deploy task a loaded model belongs to: ``'anomaly'``, ``'segmentation'``, ``'generation'`` or None."""
    from gen3d.apis.inference import is_anomaly_model

    from .gan_wrapper import generator_of
    from .segmentation_wrapper import segmentor_of

    if is_anomaly_model(model):
        return "anomaly"
    for task, find in (("generation", generator_of), ("segmentation", segmentor_of)):
        try:
            find(model)
            return task
        except (TypeError, ValueError):
            continue
    return None


def check_family(model: torch.nn.Module, task: str, checkpoint: str, deploy_cfg: str) -> None:
    """Refuse a checkpoint whose model is not of the deploy config's task, naming both.

    Raises:
        ValueError: E.g. ``checkpoint x.pth holds a StyleGAN2 model (task 'generation'), but the deploy config
            ... is for task 'anomaly'; use a task='generation' deploy config such as deploy/gan_...py``.
    """
    family = model_family(model)
    if family == task:
        return
    hint = (f"use a task={family!r} deploy config such as {TASK_CONFIGS[family]}" if family
            else "no deploy task exports this model type")
    raise ValueError(f"checkpoint {checkpoint} holds a {type(model).__name__} model "
                     f"({f'task {family!r}' if family else 'of no deployable family'}), but the deploy config "
                     f"{deploy_cfg} is for task {task!r} (codebase_config.task); {hint}")


def build_bundle(deploy_cfg: str | Config, model_cfg: str | Config | None, checkpoint: str, work_dir: str,
                 data_root: str | None = None, max_images: int | None = None, int8_label_agreement: float = 1.0,
                 int8_auroc_drop: float = AUROC_TOLERANCE, int8_label_margin: float = LABEL_MARGIN) -> dict:
    """Export a checkpoint into a bundle folder and gate it against PyTorch.

    ``codebase_config.task='segmentation'`` exports the (student) segmentor instead: see
    :mod:`gen3d.deploy.segmentation_bundle` (the int8 arguments do not apply there); ``task='generation'`` a GAN's
    EMA generator (:mod:`gen3d.deploy.gan_bundle`).

    Args:
        deploy_cfg: Deploy config file or object.
        model_cfg: Model config (``None``: the one saved in the checkpoint).
        checkpoint: Trained ``.pth``.
        work_dir: Bundle folder (created).
        data_root: Override of the model config's dataset roots (parity and calibration images).
        max_images: Validation images for the gates; ``None``: :data:`~gen3d.deploy.parity.DEFAULT_GATE_IMAGES`
            normal images for anomaly (each also gets a synthetic-defect copy; training normals fill up a smaller
            validation split), 16 for the other tasks.
        int8_label_agreement: Label-agreement gate of the int8 task-level check.
        int8_auroc_drop: Image-AUROC gate of the int8 task-level check (AUROC resolution on n normal + n defect
            images is 1 / n^2: relax it for tiny sets).
        int8_label_margin: Band around the threshold (normalised score) left out of the label gate
            (:func:`~gen3d.deploy.parity.check_task_parity`).

    Returns:
        The manifest written to ``work_dir/manifest.json``.

    Raises:
        ParityError: A gate failed (nothing is written as ``manifest.json`` then).
    """
    from gen3d.apis.inference import init_model
    from gen3d.utils.config import apply_data_root

    dcfg = deploy_cfg if isinstance(deploy_cfg, Config) else Config.fromfile(deploy_cfg)
    task = dcfg.codebase_config.get("task", "anomaly")
    if task not in BUILDERS:
        raise ValueError(f"codebase_config.task must be one of {sorted(BUILDERS)}, got {task!r}")
    model = init_model(checkpoint, model_cfg)
    check_family(model, task, checkpoint, osp.basename(getattr(dcfg, "filename", "") or "") or "given")
    if data_root:
        apply_data_root(model.cfg, data_root)
    module, name, default_images = BUILDERS[task]
    builder = getattr(importlib.import_module(module), name)
    gates = (dict(int8_label_agreement=int8_label_agreement, int8_auroc_drop=int8_auroc_drop,
                  int8_label_margin=int8_label_margin) if task == "anomaly" else {})
    return builder(dcfg, model, checkpoint, work_dir, max_images or default_images, **gates)
