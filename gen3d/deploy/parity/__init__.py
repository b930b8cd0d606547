"""Deploy-time parity of every family: an exported ONNX graph or TensorRT engine against the PyTorch model.

The one place for the gates (import them from ``gen3d.deploy.parity``):

* :mod:`.common`: what all gates share: the fp32 tolerance (:data:`FP32_ATOL`), :class:`ParityError` and its
  message (:func:`parity_failure`), backend runners (:func:`ort_runner`, :func:`trt_runner`), the batched run
  (:func:`batched_outputs`), the float64 difference (:func:`max_abs_diff`), the scale-relative gate
  (:func:`relative_gate`) and the evaluation-image helpers.
* :mod:`.anomaly`: validation normals plus synthetic-defect copies (:func:`load_eval_set`), the fp32 gate with
  threshold ties (:func:`check_fp32_parity`), the task-level gate of int8 / fp16 / TensorRT
  (:func:`check_task_parity`, AUROC drop with DeLong's interval), the raw-graph and engine gates.
* :mod:`.segmentation`: validation images (:func:`load_seg_images`), the logit / label-map gate with top-2 ties
  (:func:`check_seg_parity`) and the engine gate.
* :mod:`.generation`: the image / map gate of a generator (:func:`check_gan_parity`) run at every truncation psi
  (:func:`gate_backend`).

The builders (:mod:`gen3d.deploy.anomaly_bundle`, :mod:`~gen3d.deploy.segmentation_bundle`,
:mod:`~gen3d.deploy.gan_bundle`) run these gates before ``manifest.json`` is written and store their results under
the manifest's ``parity``.
"""

from .anomaly import (
    AUROC_TOLERANCE,
    DEFAULT_GATE_IMAGES,
    FP32_MAP_ATOL,
    LABEL_MARGIN,
    EvalSet,
    anomaly_engine_parity,
    anomaly_raw_parity,
    backend_outputs,
    binary_auroc,
    check_fp32_parity,
    check_task_parity,
    load_eval_set,
    paired_auroc_difference,
    torch_outputs,
)
from .common import (
    FP32_ATOL,
    ParityError,
    Runner,
    batched_outputs,
    max_abs_diff,
    ort_runner,
    parity_failure,
    relative_gate,
    trt_runner,
)
from .generation import FP32_IMAGE_ATOL, UINT8_IMAGE_ATOL, check_gan_parity, gate_backend
from .segmentation import (
    FP32_LOGIT_ATOL,
    TRT_LOGIT_ATOL,
    TRT_MIN_LABEL_AGREEMENT,
    check_seg_parity,
    load_seg_images,
    seg_engine_parity,
)

__all__ = [
    "AUROC_TOLERANCE", "DEFAULT_GATE_IMAGES", "FP32_ATOL", "FP32_IMAGE_ATOL", "FP32_LOGIT_ATOL", "FP32_MAP_ATOL",
    "LABEL_MARGIN", "TRT_LOGIT_ATOL", "TRT_MIN_LABEL_AGREEMENT", "UINT8_IMAGE_ATOL", "EvalSet", "ParityError",
    "Runner", "anomaly_engine_parity", "anomaly_raw_parity", "backend_outputs", "batched_outputs", "binary_auroc",
    "check_fp32_parity", "check_gan_parity", "check_seg_parity", "check_task_parity", "gate_backend",
    "load_eval_set", "load_seg_images", "max_abs_diff", "ort_runner", "paired_auroc_difference", "parity_failure",
    "relative_gate", "seg_engine_parity", "torch_outputs", "trt_runner",
]
