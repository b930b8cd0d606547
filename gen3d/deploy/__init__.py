"""gen3d.deploy: ONNX export with in-graph pre/post-processing, int8 Q/DQ, parity gates, bundles, benchmarks.

The parity gates of every family (anomaly, segmentation, generation) are in :mod:`gen3d.deploy.parity`.

Names are resolved lazily (PEP 562), so that ``python -m gen3d.deploy.benchmark`` can time ONNX Runtime in a
process that never imports torch (its peak memory is then the runtime's own).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "anomaly_wrapper": ("MASK_FILL", "AnomalyEnd2End", "AnomalyRaw", "export_copy", "reference_outputs"),
    "bundle": ("build_bundle",),
    "onnx_export": ("ExportError", "export_onnx", "onnx_opset", "simplify_onnx"),
    "parity": ("ParityError", "backend_outputs", "batched_outputs", "binary_auroc", "check_fp32_parity",
               "check_gan_parity", "check_seg_parity", "check_task_parity", "gate_backend", "load_eval_set",
               "load_seg_images", "ort_runner", "paired_auroc_difference", "torch_outputs"),
    "quantize": ("quantize_qdq",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
