"""The segmentation part of :func:`gen3d.deploy.bundle.build_bundle` (``codebase_config.task='segmentation'``).

Deploy config keys read here::

    onnx_config = dict(..., input_shape=None | (H, W),   # None: the size of the first validation image
                       dynamic_batch=True, batch_size=1, opset_version=17, simplify=True)
    codebase_config = dict(type='gen3d', task='segmentation', mode='end2end' | 'raw',
                           output='logits' | 'label_map')    # end2end only
    backend_config = dict(type='onnxruntime' | 'tensorrt', precision='fp32' | 'fp16', ...,
                          logit_atol=5e-2, min_label_agreement=0.99)   # gates of a TensorRT engine

The gates (fp32 ONNX Runtime, and a TensorRT engine where one is built) are
:func:`gen3d.deploy.parity.check_seg_parity` and :func:`gen3d.deploy.parity.seg_engine_parity` on validation images of
the model config (:func:`gen3d.deploy.parity.load_seg_images`); a failure raises
:class:`~gen3d.deploy.parity.ParityError` with the numbers and nothing is written as ``manifest.json``.
"""

from __future__ import annotations

import logging
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config

from gen3d.runtime.manifest import FORMAT, FORMAT_VERSION, read_manifest, sha256_file, write_manifest

from .anomaly_wrapper import normalization_of
from .bundle_common import build_engine_entry, engine_source_entry, environment_versions
from .onnx_export import DEFAULT_OPSET, export_onnx, simplify_onnx
from .parity import (
    TRT_LOGIT_ATOL,
    TRT_MIN_LABEL_AGREEMENT,
    batched_outputs,
    check_seg_parity,
    load_seg_images,
    ort_runner,
    seg_engine_parity,
)
from .segmentation_wrapper import (
    END2END_INPUTS,
    LABEL_MEANING,
    LOGITS_MEANING,
    LOGITS_OUTPUTS,
    RAW_INPUTS,
    SegmentationEnd2End,
    SegmentationRaw,
    preprocess_reference,
    reference_logits,
    segmentor_of,
)

logger = logging.getLogger("gen3d.deploy")


def build_segmentation_bundle(dcfg: Config, model: torch.nn.Module, checkpoint: str, work_dir: str,
                              max_images: int = 16) -> dict:
    """Export the (student) segmentor, gate it against PyTorch and write the manifest.

    Args:
        dcfg: Deploy config (``codebase_config.task == 'segmentation'``).
        model: The loaded model (``init_model``; ``model.cfg`` with the data root applied).
        checkpoint: The ``.pth`` it came from.
        work_dir: Bundle folder (created).
        max_images: Validation images for the gate.

    Returns:
        The manifest written to ``work_dir/manifest.json``.

    Raises:
        ParityError: A gate failed.
        ValueError: An unsupported mode, output or precision.
    """
    oc, cc, backend = dcfg.onnx_config, dcfg.codebase_config, dcfg.backend_config
    mode, output = cc.get("mode", "end2end"), cc.get("output", "logits")
    precision = backend.get("precision", "fp32")
    if mode not in ("end2end", "raw"):
        raise ValueError(f"codebase_config.mode must be 'end2end' or 'raw', got {mode!r}")
    if precision == "int8":
        raise ValueError("int8 is not implemented for task='segmentation'")
    segmentor, role = segmentor_of(model)
    images, meta = load_seg_images(model.cfg, oc.get("input_shape"), max_images)
    h, w = images.shape[1:3]
    dyn, batch = bool(oc.get("dynamic_batch", True)), int(oc.get("batch_size", 1))
    bdim: str | int = "batch" if dyn else batch
    step = 8 if dyn else batch
    if not dyn:  # a static graph takes exactly `batch` images: tile / trim to whole batches
        images = np.resize(images, (max(len(images) // batch, 1) * batch, *images.shape[1:]))
    num_classes = int(segmentor.num_classes)
    classes = [str(c) for c in (meta.get("classes") or [])]
    mean, std = normalization_of(segmentor)
    pre = {"in_graph": mode == "end2end", "resize": [h, w], "interpolation": "bilinear", "antialias": False,
           "mean": mean, "std": std, "scale": "0-255", "color": "RGB",
           "note": "the graph does not resize: resize frames to (H, W) of the image input before feeding"}
    lshape = [bdim, num_classes, h, w]
    if mode == "raw":
        wrapper: torch.nn.Module = SegmentationRaw(segmentor)
        feed_name, names_out = RAW_INPUTS[0], LOGITS_OUTPUTS
        feed = preprocess_reference(segmentor, images).numpy()
        inputs = [{"name": "input", "dtype": "float32", "shape": [bdim, 3, h, w], "layout": "NCHW", "color": "RGB",
                   "meaning": "(image - mean) / std (manifest preprocessing), 0-255 RGB scale"}]
        outputs = [{"name": "seg_logits", "dtype": "float32", "shape": lshape, "meaning": LOGITS_MEANING}]
        output = "logits"
    else:
        wrapper = SegmentationEnd2End(segmentor, output)
        feed_name, names_out = END2END_INPUTS[0], wrapper.output_names
        feed = images
        inputs = [{"name": "image", "dtype": "uint8", "shape": [bdim, h, w, 3], "layout": "NHWC", "color": "RGB"}]
        outputs = ([{"name": "seg_logits", "dtype": "float32", "shape": lshape, "meaning": LOGITS_MEANING}]
                   if output == "logits" else
                   [{"name": "label_map", "dtype": "uint8", "shape": [bdim, h, w], "meaning": LABEL_MEANING,
                     "classes": classes}])
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, oc.get("save_file", "model.onnx"))
    opset, exporter = int(oc.get("opset_version", DEFAULT_OPSET)), oc.get("exporter", "torchscript")
    logger.info("exporting the %s %s (%s, %s) to %s", role, type(segmentor).__name__, mode, output, path)
    args = (torch.from_numpy(np.ascontiguousarray(feed[:batch])),)
    axes = {n: {0: "batch"} for n in (feed_name, *names_out)} if dyn else None
    export_onnx(wrapper, args, path, (feed_name,), names_out, axes, opset, exporter)
    if oc.get("simplify", True):
        simplify_onnx(path, {feed_name: args[0].numpy()})
    ref = reference_logits(segmentor, images, batch_size=step)
    parity = check_seg_parity(ref, batched_outputs(ort_runner(path), {feed_name: feed}, step))
    logger.info("fp32 parity: %s", parity)
    engine, why = build_engine_entry(path, dcfg, work_dir)
    logger.info("TensorRT engine: %s", why if engine is None else engine.get("file"))
    if engine is not None:
        parity = {"fp32": parity, "tensorrt": seg_engine_parity(
            osp.join(work_dir, engine["file"]), inputs, feed_name, feed, ref, step, precision,
            logit_atol=float(backend.get("logit_atol", TRT_LOGIT_ATOL)),
            min_label_agreement=float(backend.get("min_label_agreement", TRT_MIN_LABEL_AGREEMENT)))}
    elif backend.get("type") == "tensorrt":
        parity["tensorrt"] = f"not run: {why}"
    ckpt_name = osp.basename(checkpoint)
    model_entry = {"type": type(model).__name__, "exported": role, "exported_type": type(segmentor).__name__,
                   "config": getattr(model.cfg, "filename", None) or "checkpoint", "checkpoint": ckpt_name,
                   "checkpoint_sha256": sha256_file(checkpoint), "classes": classes, "num_classes": num_classes,
                   "input_size": [h, w]}
    palette = meta.get("palette") or (getattr(model, "dataset_meta", None) or {}).get("palette")
    if palette and len(palette) == num_classes:  # the dataset's, else the checkpoint's (folder datasets have none)
        model_entry["palette"] = [[int(v) for v in c] for c in palette]
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": "segmentation", "mode": mode, "output": output,
        "model": model_entry,
        "onnx": {"file": osp.basename(path), "sha256": sha256_file(path), "opset": opset, "exporter": exporter,
                 "precision": "fp32", "simplified": bool(oc.get("simplify", True))},
        "inputs": inputs, "preprocessing": pre, "outputs": outputs,
        "versions": environment_versions(), "engine": engine, "engine_note": why, "parity": parity,
        "deploy_config": osp.basename(getattr(dcfg, "filename", "") or "") or None,
        "backend": {"type": backend.get("type", "onnxruntime"), "precision": precision},
        "runtime_hints": {"onnxruntime": dict(backend.get("runtime", {}))},
    }
    manifest.update(engine_source_entry(engine, path, work_dir))
    write_manifest(work_dir, manifest)
    return read_manifest(work_dir)  # as sealed and written (manifest_sha256, every file's sha256)
