"""Static op-support lint of an ONNX graph against the TensorRT ONNX parser (runs on CPU, no TensorRT needed).

Every node, including the nodes of ``If``/``Loop``/``Scan`` bodies, is checked against the onnx-tensorrt operator
tables in :mod:`gen3d.deploy.trt_op_tables` (TensorRT 8.6 = JetPack 6.0; TensorRT 10.x = JetPack 6.1/6.2 and x86),
plus the restrictions those tables state that can be decided on the graph alone: opset range, network I/O dtypes,
Resize modes and antialiasing, ``axes``-style inputs that must be initializers, ScatterND ``reduction``, MaxPool
``Indices``, and ops that would need a plugin. Float ``-inf`` constants that reach an ``Add``/``Where`` (attention
masks) are flagged for FP16 builds (NaN risk, NVIDIA/TensorRT#1500).

A clean lint is necessary, not sufficient: the parser can still reject shapes or combinations the tables do not
describe. Only a build on the target (``gen3d.deploy.tensorrt_builder``) is proof.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from .trt_op_tables import OPSET_RANGE, SOURCE_REPO, SOURCES, SUPPORTED, UNSUPPORTED

TRT_VERSIONS = ("8.6", "10")
DEFAULT_DOMAINS = ("", "ai.onnx")
FP16_MIN = -65504.0  # the most negative finite float16; anything below becomes -inf in FP16

_DTYPE_NAMES = {
    onnx.TensorProto.FLOAT: "FP32", onnx.TensorProto.FLOAT16: "FP16", onnx.TensorProto.BFLOAT16: "BF16",
    onnx.TensorProto.DOUBLE: "DOUBLE", onnx.TensorProto.INT64: "INT64", onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.INT8: "INT8", onnx.TensorProto.UINT8: "UINT8", onnx.TensorProto.BOOL: "BOOL",
    onnx.TensorProto.STRING: "STRING", onnx.TensorProto.INT16: "INT16", onnx.TensorProto.UINT16: "UINT16",
    onnx.TensorProto.UINT32: "UINT32", onnx.TensorProto.UINT64: "UINT64",
    onnx.TensorProto.COMPLEX64: "COMPLEX64", onnx.TensorProto.COMPLEX128: "COMPLEX128",
    onnx.TensorProto.FLOAT8E4M3FN: "FP8", onnx.TensorProto.INT4: "INT4",
}
# Types the parser does not take anywhere in the graph, per version (the tables' data-type paragraphs).
_NEVER = {
    "8.6": {"BF16", "FP8", "INT4", "STRING", "INT16", "UINT16", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128"},
    "10": {"STRING", "INT16", "UINT16", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128"},
}
_RESIZE_COORD_MODES = ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners")
# op_type -> index of an input that must be an initializer (or a Constant output) when present.
_CONST_INPUTS = {
    "Slice": (3, "axes"), "Squeeze": (1, "axes"), "Unsqueeze": (1, "axes"), "CumSum": (1, "axis"),
    "OneHot": (1, "depth"),
    **{op: (1, "axes") for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                  "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
}


@dataclass(frozen=True)
class LintIssue:
    """One finding of the lint.

    Attributes:
        severity: ``'error'`` (the parser or builder is expected to fail, or results would be wrong) or
            ``'warning'`` (likely to work, but check it on the target).
        node: Node name (``'<graph>'`` for graph-level findings); nodes in subgraphs are ``parent/attr/name``.
        op_type: ONNX op type (``''`` for graph-level findings).
        message: What is wrong and what to do.
    """

    severity: str
    node: str
    op_type: str
    message: str


def normalize_trt_version(version: str) -> str:
    """Map a TensorRT version string (``'8.6.1'``, ``'10.3.0.30'``, ``'10'``) to a table key (``'8.6'``/``'10'``).

    Raises:
        ValueError: For a version without a table.
    """
    parts = str(version).strip().split(".")
    if parts[0] == "10":
        return "10"
    if parts[:2] == ["8", "6"]:
        return "8.6"
    raise ValueError(f"No onnx-tensorrt operator table for TensorRT {version!r}; known: {TRT_VERSIONS}")


class _Scope:
    """Names visible to a graph: constants (initializers and Constant outputs), values and dtypes."""

    def __init__(self, graph: onnx.GraphProto, parent: _Scope | None, dtypes: dict[str, int]) -> None:
        self.consts: dict[str, onnx.TensorProto | None] = dict(parent.consts) if parent else {}
        for init in graph.initializer:
            self.consts[init.name] = init
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                self.consts[node.output[0]] = value
        self.dtypes = dtypes

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def array(self, name: str) -> np.ndarray | None:
        tensor = self.consts.get(name)
        if tensor is None:
            return None
        try:
            return numpy_helper.to_array(tensor)
        except Exception:  # external data not loaded, exotic type
            return None


def _collect_dtypes(model: onnx.ModelProto) -> dict[str, int]:
    """Element types of every named value (after best-effort ONNX shape inference), subgraphs included."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        inferred = model
    dtypes: dict[str, int] = {}

    def visit(graph: onnx.GraphProto) -> None:
        for vi in [*graph.input, *graph.output, *graph.value_info]:
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
                dtypes[vi.name] = vi.type.tensor_type.elem_type
        for init in graph.initializer:
            dtypes[init.name] = init.data_type
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        visit(sub)

    visit(inferred.graph)
    return dtypes


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _check_resize(node: onnx.NodeProto, scope: _Scope, version: str) -> Iterator[tuple[str, str]]:
    mode = _attr(node, "mode", "nearest")
    if mode == "cubic":
        yield "warning", ("mode 'cubic' is not in the table (nearest, linear) though the importer has a cubic "
                          "path; verify on the target or use 'linear'")
    elif mode not in ("nearest", "linear"):
        yield "error", f"mode {mode!r} is unsupported (nearest, linear)"
    coord = _attr(node, "coordinate_transformation_mode", "half_pixel")
    if coord not in _RESIZE_COORD_MODES:
        yield "error", f"coordinate_transformation_mode {coord!r} is unsupported ({', '.join(_RESIZE_COORD_MODES)})"
    if _attr(node, "antialias", 0):
        yield "error", "antialias=1 is unsupported (export with antialias=False)"
    policy = _attr(node, "keep_aspect_ratio_policy", "stretch")
    if policy != "stretch":
        yield "error", f"keep_aspect_ratio_policy {policy!r} is unsupported (only 'stretch')"
    axes = _attr(node, "axes")
    scales = _input(node, 2)
    if axes is not None and scales and not scope.is_const(scales) and list(axes) != list(range(len(axes))):
        yield "error", "with tensor `scales`, `axes` must be an iota vector of length rank(input)"


def _check_node_rules(node: onnx.NodeProto, scope: _Scope, version: str) -> Iterator[tuple[str, str]]:
    """The table's restriction column, as far as it can be decided on the graph."""
    op = node.op_type
    if op == "Resize":
        yield from _check_resize(node, scope, version)
    if op in _CONST_INPUTS:
        index, what = _CONST_INPUTS[op]
        name = _input(node, index)
        if name and not scope.is_const(name):
            yield "error", f"`{what}` (input {index}) must be an initializer or Constant, got computed {name!r}"
    if op == "Pad":
        pads, axes = _input(node, 1), _input(node, 3)
        if pads and not scope.is_const(pads):
            yield "warning", ("`pads` is computed in the graph, not an initializer: the importer builds it with "
                              "shape-tensor ops; fold it (static input size, onnx constant folding) to be safe")
        if axes and version == "8.6":
            yield "error", "the `axes` input is rejected by the TensorRT 8.6 importer"
        elif axes and not scope.is_const(axes):
            yield "error", "`axes` must be an initializer"
    if op == "ScatterND" and _attr(node, "reduction", "none") != "none":
        yield "error", (f"reduction={_attr(node, 'reduction')!r} is not supported"
                        + (" (the 8.6 importer ignores it: wrong results)" if version == "8.6" else ""))
    if op in ("MaxPool", "AveragePool"):
        kernel = _attr(node, "kernel_shape", [])
        if kernel and len(kernel) not in (2, 3):
            yield "error", f"{len(kernel)}D pooling is unsupported (2D or 3D only)"
    if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        yield "error", "the `Indices` output is unsupported"
    if version == "10" and op in ("MaxPool", "AveragePool", "LpPool"):
        dilations = _attr(node, "dilations", [])
        if dilations and any(d != 1 for d in dilations):
            yield "error", "`dilations` must be empty or all ones"
    if op in ("QuantizeLinear", "DequantizeLinear"):
        zp_name = _input(node, 2)
        zero_point = scope.array(zp_name) if zp_name else None
        if zero_point is not None and np.any(zero_point.astype(np.float64) != 0):
            yield "error", "the zero point must be 0 (TensorRT quantization is symmetric)"
        elif zp_name and not scope.is_const(zp_name):
            yield "error", "the zero point must be a constant 0"
    if op == "Constant" and any(a.name in ("sparse_value", "value_string", "value_strings") for a in node.attribute):
        yield "error", "`sparse_value`, `value_string` and `value_strings` are unsupported"
    if op == "LayerNormalization" and any(node.output[1:]):
        yield ("error" if version == "10" else "warning"), "only the first output `Y` is supported"
    if op == "LSTM" and version == "10" and (_attr(node, "input_forget", 0) or _attr(node, "layout", 0)):
        yield "error", "`input_forget` and `layout` must be 0"
    if op == "TopK":
        if version == "10" and _attr(node, "sorted", 1) != 1:
            yield "error", "`sorted` must be 1"
        k = scope.array(_input(node, 1))
        if k is not None and k.size and int(k.reshape(-1)[0]) >= 3840:
            yield "error" if version == "10" else "warning", "K must be less than 3840"
    if op == "Dropout" and version == "10":
        training = _input(node, 2)
        value = scope.array(training) if training else None
        if training and (value is None or bool(value.reshape(-1)[0])):
            yield "error", "`training_mode` must be an initializer that evaluates to False"
    if op == "Einsum" and version == "8.6":
        equation = str(_attr(node, "equation", ""))
        operands = equation.split("->")[0].split(",")
        if "..." in equation or any(len(set(t.strip())) != len(t.strip()) for t in operands):
            yield "error", "ellipsis and diagonal operations are unsupported in TensorRT 8.6"
    if op in ("NonZero", "NonMaxSuppression"):
        yield "warning", "data-dependent output shape: the runner needs an IOutputAllocator (TrtBackend has none)"


def _check_dtypes(node: onnx.NodeProto, scope: _Scope, version: str, io_names: set[str]) -> Iterator[tuple[str, str]]:
    for name in [*node.input, *node.output]:
        kind = _DTYPE_NAMES.get(scope.dtypes.get(name, 0))
        if kind in _NEVER[version]:
            yield "error", f"tensor {name!r} is {kind}, which TensorRT {version} does not support"
        elif kind == "UINT8" and name not in io_names and not (node.op_type == "Cast" and name == node.output[0]):
            yield ("error" if version == "10" else "warning"), (
                f"tensor {name!r} is UINT8 inside the graph: UINT8 is only supported for network inputs/outputs "
                "(cast it to float right after the input)")
        elif kind == "DOUBLE":
            yield "warning", f"tensor {name!r} is DOUBLE: TensorRT casts it down to FP32 (clamping at +-FLT_MAX)"
    # The types column is coarse (integer handling differs by importer), so only floating types are compared.
    listed = SUPPORTED[version].get(node.op_type, "").split()
    kind = _DTYPE_NAMES.get(scope.dtypes.get(_input(node, 0), 0))
    if kind in ("FP16", "BF16") and any(t in listed for t in ("FP32", "FP16", "BF16")) and kind not in listed:
        yield "warning", f"{kind} input is not listed for {node.op_type} in the TensorRT {version} table ({listed})"


def _iter_nodes(
    graph: onnx.GraphProto, scope: _Scope, prefix: str = ""
) -> Iterator[tuple[str, onnx.NodeProto, _Scope]]:
    """Depth-first over every node, with the scope visible to it; subgraph nodes are named ``parent/attr/node``."""
    for index, node in enumerate(graph.node):
        name = prefix + (node.name or f"{node.op_type}_{index}")
        yield name, node, scope
        for attr in node.attribute:
            subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in subgraphs:
                yield from _iter_nodes(sub, _Scope(sub, scope, scope.dtypes), f"{name}/{attr.name}/")


def _neg_inf_constants(model: onnx.ModelProto, scope: _Scope) -> dict[str, float]:
    """Float constants (initializers, Constant, ConstantOfShape fills) holding -inf or values below the FP16 range."""
    tensors = dict(scope.consts)
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.output:
            tensors[node.output[0]] = next((a.t for a in node.attribute if a.name == "value"), None)
    found: dict[str, float] = {}
    for name, tensor in tensors.items():
        if tensor is None or tensor.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            continue
        try:
            array = numpy_helper.to_array(tensor)
        except Exception:  # external data not loaded
            continue
        if array.size and float(np.min(array)) < FP16_MIN:
            found[name] = float(np.min(array))
    return found


def _check_neg_inf_masks(model: onnx.ModelProto, scope: _Scope, depth: int = 8) -> list[LintIssue]:
    """Flag Add/Where nodes reached (through up to ``depth`` nodes) by a -inf / FP16-overflowing constant."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    issues, seen = [], set()
    for source, value in _neg_inf_constants(model, scope).items():
        frontier, visited = [source], {source}
        for _ in range(depth):
            nxt = []
            for name in frontier:
                for node in consumers.get(name, []):
                    if node.op_type in ("Add", "Where"):
                        if node.name not in seen:
                            seen.add(node.name)
                            issues.append(LintIssue("warning", node.name, node.op_type, (
                                f"constant {source!r} (min {value:g}) feeds this {node.op_type} (attention mask?): "
                                "in FP16 a fully masked or overflowing row gives NaN after Softmax; use a finite "
                                "fill (e.g. -1e4) or keep these layers in FP32")))
                        continue
                    nxt.extend(o for o in node.output if o and o not in visited)
                    visited.update(node.output)
            frontier = nxt
    return issues


def lint_onnx_for_tensorrt(model: str | onnx.ModelProto, trt_version: str, fp16: bool = True) -> list[LintIssue]:
    """Check every node of an ONNX graph against the TensorRT ONNX parser's operator table.

    Args:
        model: Path to an ``.onnx`` file or a loaded model.
        trt_version: ``'8.6'`` (JetPack 6.0) or ``'10'`` (10.x; JetPack 6.1/6.2 ship 10.3); full version
            strings such as ``'10.3.0'`` are accepted.
        fp16: Also flag ``-inf`` attention-mask constants (an FP16 NaN risk).

    Returns:
        The findings, graph-level first, then in node order. ``[]`` means nothing the tables describe is violated.
    """
    version = normalize_trt_version(trt_version)
    if isinstance(model, str):
        model = onnx.load(model)
    supported, unsupported = SUPPORTED[version], UNSUPPORTED[version]
    issues: list[LintIssue] = []

    low, high = OPSET_RANGE[version]
    opset = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)
    if opset is not None and (opset > high or (low is not None and opset < low)):
        span = f"{low} to {high}" if low is not None else f"up to {high}"
        issues.append(LintIssue("error", "<graph>", "", f"opset {opset}: TensorRT {version} supports opset {span}"))

    dtypes = _collect_dtypes(model)
    scope = _Scope(model.graph, None, dtypes)
    graph = model.graph
    io_names = {v.name for v in [*graph.input, *graph.output]}
    init_names = {i.name for i in graph.initializer}
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    for value, role in [*((v, "input") for v in graph.input if v.name not in init_names),
                        *((v, "output") for v in graph.output)]:
        kind = _DTYPE_NAMES.get(value.type.tensor_type.elem_type, "?")
        if kind == "UINT8" and role == "input" and any(op != "Cast" for op in consumers.get(value.name, [])):
            issues.append(LintIssue("error", "<graph>", "", f"UINT8 input {value.name!r} must only feed Cast nodes"))
        elif kind == "INT64" and version == "8.6":
            issues.append(LintIssue("warning", "<graph>", "", (
                f"INT64 network {role} {value.name!r} becomes INT32 in a TensorRT 8.6 engine; feed/read int32 "
                "(TrtBackend casts)")))

    for name, node, node_scope in _iter_nodes(graph, scope):
        op = node.op_type
        found: list[tuple[str, str]] = []
        if node.domain not in DEFAULT_DOMAINS:
            found.append(("error", f"custom domain {node.domain!r}: needs a TensorRT plugin named {op!r}"))
        elif op in unsupported:
            found.append(("error", f"{op} is not supported by TensorRT {version} (operator table: N)"))
        elif op not in supported:
            found.append(("error", f"{op} is not in the TensorRT {version} operator table: no importer; the parser "
                                   f"would look for a plugin named {op!r}"))
        else:
            found.extend(_check_node_rules(node, node_scope, version))
        found.extend(_check_dtypes(node, node_scope, version, io_names))
        issues.extend(LintIssue(severity, name, op, message) for severity, message in found)
    if fp16:
        issues.extend(_check_neg_inf_masks(model, scope))
    return issues


def has_errors(issues: list[LintIssue]) -> bool:
    """Whether any finding is an error."""
    return any(issue.severity == "error" for issue in issues)


def format_lint_report(issues: list[LintIssue], trt_version: str | None = None) -> str:
    """Render findings as text: a summary line, then one line per finding (errors first).

    Args:
        issues: Output of :func:`lint_onnx_for_tensorrt`.
        trt_version: Named in the summary, with the operator-table source, when given.
    """
    errors = sum(i.severity == "error" for i in issues)
    head = "TensorRT op lint"
    if trt_version is not None:
        version = normalize_trt_version(trt_version)
        branch, commit = SOURCES[version]
        head += f" for TensorRT {version} ({SOURCE_REPO} {branch} @ {commit[:7]})"
    lines = [f"{head}: {errors} error(s), {len(issues) - errors} warning(s)"]
    for issue in sorted(issues, key=lambda i: i.severity != "error"):
        where = f"[{issue.op_type}] {issue.node}" if issue.op_type else issue.node
        lines.append(f"  {issue.severity.upper():7s} {where}: {issue.message}")
    return "\n".join(lines)
