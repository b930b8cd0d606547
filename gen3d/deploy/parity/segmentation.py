"""Segmentation parity gates: an exported segmentor graph or TensorRT engine against the PyTorch logits.

Images are validation images of the model config, resized with cv2 bilinear to the graph size
(:func:`load_seg_images`). The reference is the unmodified segmentor's logits
(:func:`gen3d.deploy.segmentation_wrapper.reference_logits`) and their argmax.

* fp32 gate (:func:`check_seg_parity`, ONNX Runtime): ``max |logit diff| <= 1e-4 * max(1, max |logit|)`` for logits
  (end2end and raw) -- exactly 1e-4 for logits within [-1, 1]; trained segmentors reach |logits| of 100+, where one
  fp32 ulp is already ~1e-5 and reordered convolution sums differ by tens of ulps -- and label-map agreement
  ``== 1.0`` for ``label_map`` and for the argmax of ``seg_logits``. Pixels whose two best PyTorch logits are closer
  than the logit gate are ties: reported (``tie_pixels_differing``), not gated.
* TensorRT engine (:func:`seg_engine_parity`): the same check with ``backend_config.logit_atol``
  (:data:`TRT_LOGIT_ATOL`) and ``backend_config.min_label_agreement`` (:data:`TRT_MIN_LABEL_AGREEMENT`).

A failure raises :class:`~gen3d.deploy.parity.common.ParityError` with the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .common import (
    FP32_ATOL,
    batched_outputs,
    eval_dataset,
    load_rgb,
    max_abs_diff,
    parity_failure,
    relative_gate,
    spread_indices,
    trt_runner,
)

FP32_LOGIT_ATOL = FP32_ATOL
"""Largest accepted ``|logit_torch - logit_onnx| / max(1, max |logit_torch|)`` of the fp32 gate."""
TRT_LOGIT_ATOL = 5e-2
"""Default relative logit gate of a TensorRT engine (``backend_config.logit_atol``): fp16 / TF32 kernels."""
TRT_MIN_LABEL_AGREEMENT = 0.99
"""Default label agreement of a TensorRT engine (``backend_config.min_label_agreement``)."""


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
    dataset = eval_dataset(cfg, split)
    if not len(dataset):
        raise ValueError(f"the {split} split of the model config has no image")
    images = []
    for k in spread_indices(len(dataset), max_images):
        img = load_rgb(dataset.get_data_info(k)["img_path"], image_size)
        image_size = img.shape[:2] if image_size is None else image_size
        images.append(img)
    return np.stack(images), dict(dataset.metainfo)


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
    scale, gate = relative_gate(ref_logits, atol)
    result: dict[str, Any] = {"backend": what, "images": int(len(ref_logits))}
    diff = float("nan")
    if "seg_logits" in out:
        diff = max_abs_diff(ref_logits, out["seg_logits"])
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
        raise parity_failure(what, f"max |diff| logits {diff:.3g} (gate {atol:g} x logit scale {scale:.4g} = "
                             f"{gate:.3g}), label-map agreement {agree:.6f} (gate >= {min_label_agreement}), "
                             f"{result['pixels_differing']} pixel(s) differ, smallest top-2 logit margin "
                             f"{result['min_top2_margin']:.3g}", result["images"])
    return result


def seg_engine_parity(engine_path: str, inputs: list[dict], feed_name: str, feed: np.ndarray, ref_logits: np.ndarray,
                      batch_size: int, precision: str, logit_atol: float = TRT_LOGIT_ATOL,
                      min_label_agreement: float = TRT_MIN_LABEL_AGREEMENT) -> dict:
    """Run a TensorRT engine over the gate images and check it with :func:`check_seg_parity`.

    Args:
        engine_path: The engine.
        inputs: The manifest's ``inputs``.
        feed_name: The graph input (``image`` or ``input``).
        feed: What it takes: uint8 ``(N, H, W, 3)`` or normalised float32 ``(N, 3, H, W)``.
        ref_logits: PyTorch logits ``(N, C, H, W)`` of the same images.
        batch_size: Images per call (the static batch of a static engine).
        precision: The engine's precision (for the message).
        logit_atol: ``atol`` of :func:`check_seg_parity`.
        min_label_agreement: ``min_label_agreement`` of :func:`check_seg_parity`.

    Returns:
        The measured numbers.

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    out = batched_outputs(trt_runner(engine_path, inputs), {feed_name: feed}, batch_size)
    return check_seg_parity(ref_logits, out, atol=logit_atol, min_label_agreement=min_label_agreement,
                            what=f"tensorrt {precision}")
