"""The segmentation part of :func:`gen3d.deploy.bundle.build_bundle` (``codebase_config.task='segmentation'``).

Deploy config keys read here::

    onnx_config = dict(..., input_shape=None | (H, W),   # None: the size of the first validation image
                       dynamic_batch=True, batch_size=1, opset_version=17, simplify=True)
    codebase_config = dict(type='gen3d', task='segmentation', mode='end2end' | 'raw',
                           output='logits' | 'label_map')    # end2end only
    backend_config = dict(type='onnxruntime' | 'tensorrt', precision='fp32' | 'fp16', ...)

fp32 gate (PyTorch vs ONNX Runtime on validation images of the model config, resized with cv2 bilinear to the graph
size): ``max |logit diff| <= 1e-4 * max(1, max |logit|)`` for logits (end2end and raw) -- exactly 1e-4 for logits
within [-1, 1]; trained segmentors reach |logits| of 100+, where one fp32 ulp is already ~1e-5 and reordered
convolution sums differ by tens of ulps -- and label-map agreement ``== 1.0`` for ``label_map`` and for the argmax of
``seg_logits`` (the reference is the argmax of the unmodified model's logits). A failure raises
:class:`ParityError` with the numbers and nothing is written as ``manifest.json``.
"""

from __future__ import annotations

import logging
import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from mmengine.config import Config

from gen3d.runtime.manifest import FORMAT, FORMAT_VERSION, read_manifest, sha256_file, write_manifest

from .anomaly_wrapper import normalization_of
from .bundle_common import build_engine_entry, engine_source_entry, environment_versions
from .onnx_export import DEFAULT_OPSET, export_onnx, simplify_onnx
from .parity import FP32_MAP_ATOL, ParityError, ort_runner
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
FP32_LOGIT_ATOL = FP32_MAP_ATOL
"""Largest accepted ``|logit_torch - logit_onnx| / max(1, max |logit_torch|)`` of the fp32 gate."""


def load_seg_images(cfg: Mapping, image_size: Sequence[int] | None, max_images: int = 16,
                    split: str = "val") -> tuple[np.ndarray, dict[str, Any]]:
    """Images of a split of the model config, resized (cv2 bilinear) to the graph size.

    Args:
        cfg: The model's mmengine config (``<split>_dataloader.dataset`` with ``data_root`` set).
        image_size: ``(H, W)``; ``None`` takes the size of the first image of the split.
        max_images: Images kept, spread over the split.
        split: ``'val'`` or ``'test'``.

    Returns:
        uint8 RGB ``(N, H, W, 3)`` and the dataset's metainfo (``classes``, ``palette`` where set).

    Raises:
        ValueError: The split is empty.
    """
    import cv2
    from mmengine.registry import init_default_scope

    from gen3d.datasets.transforms.loading import imread_rgb
    from gen3d.registry import DATASETS

    init_default_scope(cfg.get("default_scope", "gen3d"))
    ds_cfg = cfg[f"{split}_dataloader"]["dataset"]
    ds_cfg = ds_cfg.to_dict() if hasattr(ds_cfg, "to_dict") else dict(ds_cfg)
    ds_cfg["pipeline"] = []
    dataset = DATASETS.build(ds_cfg)
    if not len(dataset):
        raise ValueError(f"the {split} split of the model config has no image")
    keep = sorted(set(np.linspace(0, len(dataset) - 1, min(max_images, len(dataset))).round().astype(int).tolist()))
    images = []
    for k in keep:
        img = imread_rgb(dataset.get_data_info(k)["img_path"])
        if image_size is None:
            image_size = img.shape[:2]
        h, w = int(image_size[0]), int(image_size[1])
        images.append(img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))
    return np.stack(images), dict(dataset.metainfo)


def run_batched(run: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], name: str, data: np.ndarray,
                batch_size: int) -> dict[str, np.ndarray]:
    """Feed ``data`` to a backend as input ``name`` in batches of ``batch_size`` and concatenate the outputs."""
    chunks: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(data), batch_size):
        for key, value in run({name: data[i:i + batch_size]}).items():
            chunks.setdefault(key, []).append(value)
    return {k: np.concatenate(v) for k, v in chunks.items()}


def check_seg_parity(ref_logits: np.ndarray, out: Mapping[str, np.ndarray], atol: float = FP32_LOGIT_ATOL,
                     min_label_agreement: float = 1.0, what: str = "onnxruntime fp32") -> dict:
    """Gate: ``max |logit diff| <= atol * max(1, max |ref_logits|)`` (for ``seg_logits``) and label-map agreement.

    Args:
        ref_logits: PyTorch logits ``(N, C, H, W)``.
        out: Backend outputs: ``seg_logits`` ``(N, C, H, W)`` and / or ``label_map`` ``(N, H, W)``.
        atol: Largest accepted logit difference, relative to the logit scale ``max(1, max |ref_logits|)``.
        min_label_agreement: Smallest accepted fraction of pixels whose label equals ``argmax(ref_logits)``, among
            the pixels whose top-2 PyTorch logit margin exceeds the logit gate (closer ones are ties, reported).
        what: Backend name for the message.

    Returns:
        The measured numbers (for the manifest's ``parity``).

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    ref_labels = ref_logits.argmax(1)
    scale = max(1.0, float(np.abs(ref_logits).max()))
    result: dict[str, Any] = {"backend": what, "images": int(len(ref_logits))}
    diff, gate = float("nan"), atol * scale
    if "seg_logits" in out:
        diff = float(np.abs(ref_logits.astype(np.float64) - out["seg_logits"]).max())
        result.update(max_abs_diff_seg_logits=diff, logit_scale=scale, logit_gate=gate)
        labels = out["seg_logits"].argmax(1)
    else:
        labels = out["label_map"].astype(np.int64)
    top2 = np.sort(ref_logits, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    # A pixel whose two best PyTorch logits are closer than the accepted logit error is a tie: a backend within
    # tolerance may pick either class (seen in CI: 2 pixels at margin 1e-6 flipped). Ties are reported, not gated.
    decided = margin > gate
    same = labels == ref_labels
    agree = float(same[decided].mean()) if decided.any() else 1.0
    result.update(label_agreement=agree, label_agreement_all=float(same.mean()), pixels_differing=int((~same).sum()),
                  tie_pixels_differing=int((~same & ~decided).sum()), min_top2_margin=float(margin.min()))
    bad_logits = "seg_logits" in out and not (np.isfinite(diff) and diff <= gate)
    if bad_logits or agree < min_label_agreement:
        raise ParityError(f"{what} vs PyTorch parity FAILED on {result['images']} images: max |diff| logits "
                          f"{diff:.3g} (gate {atol:g} x logit scale {scale:.4g} = {gate:.3g}), "
                          f"label-map agreement {agree:.6f} "
                          f"(gate >= {min_label_agreement}), {result['pixels_differing']} pixel(s) differ, "
                          f"smallest top-2 logit margin {result['min_top2_margin']:.3g}")
    return result


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
    parity = check_seg_parity(ref, run_batched(ort_runner(path), feed_name, feed, step))
    logger.info("fp32 parity: %s", parity)
    engine, why = build_engine_entry(path, dcfg, work_dir)
    logger.info("TensorRT engine: %s", why if engine is None else engine.get("file"))
    if engine is not None:
        from gen3d.runtime.trt_backend import TrtBackend

        trt_out = run_batched(TrtBackend(osp.join(work_dir, engine["file"]), {"inputs": inputs}).run, feed_name,
                              feed, step)
        parity = {"fp32": parity, "tensorrt": check_seg_parity(
            ref, trt_out, atol=float(backend.get("logit_atol", 5e-2)),
            min_label_agreement=float(backend.get("min_label_agreement", 0.99)), what=f"tensorrt {precision}")}
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
