"""Post-training int8 quantisation to an explicit Q/DQ ONNX model (ONNX Runtime's ``quantize_static``).

Weights are int8, symmetric, per output channel; activations are int8 symmetric by default (zero point 0, the only
form TensorRT accepts), so one Q/DQ file serves TensorRT's explicit-quantisation path and ONNX Runtime's int8
kernels. Only the compute-heavy ops (``Conv``, ``MatMul``, ``Gemm`` by default) are quantised: the in-graph
pre-processing (cast, resize, normalise) and post-processing (distance, pooling, thresholds) stay float.
Calibration runs the float model on validation-split images, the split thresholds were also fitted on.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from gen3d.runtime.hardware import cpu_saturates_u8s8

logger = logging.getLogger(__name__)

DEFAULT_OP_TYPES = ("Conv", "MatMul", "Gemm")


class _Reader:
    """``CalibrationDataReader`` over a list of feed dicts."""

    def __init__(self, feeds: Iterable[Mapping[str, np.ndarray]]) -> None:
        self._all = [dict(f) for f in feeds]
        self._feeds = iter(self._all)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:
        """Start the calibration data over (calibrators that make several passes call it)."""
        self._feeds = iter(self._all)


def quantize_qdq(
    fp32_path: str,
    out_path: str,
    calibration_feeds: Sequence[Mapping[str, np.ndarray]],
    op_types: Sequence[str] = DEFAULT_OP_TYPES,
    per_channel: bool = True,
    symmetric_activations: bool = True,
    method: str = "minmax",
    exclude_attention_matmuls: bool = False,
    nodes_to_exclude: Sequence[str] = (),
    quantize_bias: bool = True,
    exclude_output_quantization: Sequence[str] = (),
    float_affine_convs: bool = False,
    exclude_patterns: Sequence[str] = (),
    fuse_matmul_bias: bool = False,
    reduce_range: bool = False,
) -> str:
    """Write an int8 Q/DQ copy of ``fp32_path``.

    Args:
        fp32_path: Float ONNX model (any opset >= 13).
        out_path: Where to write the Q/DQ model.
        calibration_feeds: Input dicts (e.g. uint8 image batches plus class indices) run through the float model.
        op_types: Op types to quantise; everything else stays float.
        per_channel: Per-output-channel weight scales.
        symmetric_activations: int8 activations with zero point 0 (TensorRT); ``False`` gives uint8 asymmetric
            activations, which ONNX Runtime on x86 may run faster but TensorRT rejects.
        method: ``'minmax'``, ``'entropy'`` or ``'percentile'`` calibration.
        exclude_attention_matmuls: Keep MatMuls whose both inputs are activations (attention) in float.
        nodes_to_exclude: Node names kept in float.
        quantize_bias: Store Conv/Gemm biases as int32 + DequantizeLinear (ONNX Runtime); ``False`` keeps them
            float, as TensorRT's explicit-quantisation builds expect.
        exclude_output_quantization: Op types whose outputs get no Q/DQ pair (e.g. ``['MatMul']``: ONNX Runtime
            then runs ``MatMulIntegerToFloat`` with a float output instead of ``QLinearMatMul`` + ``DequantizeLinear``).
        float_affine_convs: Keep per-channel affine convs (depthwise 1x1, e.g. the in-graph ``(x - mean) / std``)
            in float: quantised they cost a Q/DQ pass over the full-resolution image for one multiply-add.
        exclude_patterns: ``fnmatch`` patterns of node names kept in float (e.g.
            ``['/model/backbone/conv_stem/*']``), matched against the float model's nodes of ``op_types``; a
            pattern that matches none is logged as a warning (one deploy config serves several backbones).
        fuse_matmul_bias: Write each int8 MatMul and its float bias ``Add`` as one ONNX Runtime
            ``MatMulIntegerToFloat`` (bit-identical, one node less each; :mod:`gen3d.deploy.ort_int8_fusion`). The file
            then holds contrib ops: ONNX Runtime only, refused with symmetric (TensorRT) activations.
        reduce_range: 7-bit weights ([-64, 64]). ONNX Runtime's x86 U8S8 kernels on CPUs without VNNI (AVX2, and
            AVX-512 before VNNI: many inspection PCs) add pairs of uint8 x int8 products in int16, which saturates
            for full-range weights (2 x 255 x 127 > 32767) and silently changes the outputs; 7-bit weights fit on
            every CPU. The file is built on one machine and run on another, so the ONNX Runtime int8 config turns
            it on; GPU runtimes (TensorRT) do not need it.

    Returns:
        ``out_path``.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration_feeds:
        raise ValueError("quantisation needs at least one calibration batch")
    if fuse_matmul_bias and symmetric_activations:
        raise ValueError("quantization.fuse_matmul_bias writes ONNX Runtime contrib ops: it is for the ONNX Runtime "
                         "int8 configs (symmetric_activations=False), not for a TensorRT Q/DQ file")
    if not reduce_range:
        logger.warning("%s: full-range int8 weights. ONNX Runtime's fused int8 kernels saturate them on x86 CPUs "
                       "without VNNI%s, where gen3d's runtime runs the file as exact Q/DQ instead (slower); fine for "
                       "TensorRT. quantization.reduce_range=True gives 7-bit weights that fit every CPU", out_path,
                       " (this CPU is one)" if cpu_saturates_u8s8() else "")
    methods = dict(minmax=CalibrationMethod.MinMax, entropy=CalibrationMethod.Entropy,
                   percentile=CalibrationMethod.Percentile)
    exclude = list(nodes_to_exclude) + (affine_conv_nodes(fp32_path) if float_affine_convs else [])
    exclude += matching_nodes(fp32_path, exclude_patterns, op_types)
    extra = dict(ActivationSymmetric=symmetric_activations, WeightSymmetric=True,
                 MatMulConstBOnly=exclude_attention_matmuls, QuantizeBias=quantize_bias)
    if exclude_output_quantization:
        extra["OpTypesToExcludeOutputQuantization"] = list(exclude_output_quantization)
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(fp32_path, pre, skip_symbolic_shape=False)
        quantize_static(
            pre, out_path, _Reader(calibration_feeds),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QInt8 if symmetric_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
            nodes_to_exclude=exclude,
            extra_options=extra,
        )
    if fuse_matmul_bias:
        from .ort_int8_fusion import fuse_matmul_bias_file

        logger.info("fused %d int8 MatMul + bias Add pairs into MatMulIntegerToFloat", fuse_matmul_bias_file(out_path))
    logger.info("int8 Q/DQ model written to %s (%d calibration batches)", out_path, len(calibration_feeds))
    return out_path


def matching_nodes(onnx_path: str, patterns: Sequence[str], op_types: Sequence[str] = DEFAULT_OP_TYPES
                   ) -> list[str]:
    """Names of the nodes of ``op_types`` whose name matches any ``fnmatch`` pattern.

    Args:
        onnx_path: Float ONNX model.
        patterns: ``fnmatch`` patterns of node names (case-sensitive).
        op_types: Op types considered (the quantised ones).

    Returns:
        Matching node names, in graph order; a pattern matching none is logged as a warning.
    """
    if not patterns:
        return []
    import onnx

    nodes = [n.name for n in onnx.load(onnx_path, load_external_data=False).graph.node if n.op_type in op_types]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in nodes)]
    if unmatched:
        logger.warning("quantization exclude_patterns %s match no %s node of %s: quantised as usual", unmatched,
                       "/".join(op_types), onnx_path)
    return [n for n in nodes if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def affine_conv_nodes(onnx_path: str) -> list[str]:
    """Names of the Conv nodes that are a per-channel affine map (depthwise, 1x1 kernel, one channel per group).

    Args:
        onnx_path: Float ONNX model.

    Returns:
        Node names (empty when there is none).
    """
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        shape = shapes.get(node.input[1])
        if shape is not None and len(shape) == 4 and shape[1:] == (1, 1, 1) and shape[0] == group:
            names.append(node.name)
    return names
