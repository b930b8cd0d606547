"""Write ONNX Runtime's int8 ``MatMulIntegerToFloat`` with its bias into a Q/DQ file (ONNX Runtime graphs only).

ONNX Runtime turns ``DequantizeLinear(a) -> MatMul <- DequantizeLinear(w)`` (a MatMul whose output is not
re-quantised) into ``com.microsoft.MatMulIntegerToFloat`` when it loads the file, but it leaves the float bias
``Add`` after it as a node of its own: 30 of the 42 int8 MatMuls of the folded UniAD transformer, each a pass over a
``(B, 196, N)`` tensor and, with passive threads, one more wake-up of the thread pool. The contrib op takes the
bias as its seventh input and adds it in the same kernel, ``Y = (A - a_zp)(B - b_zp) a_scale b_scale + bias``,
with the same float operations in the same order, so the outputs are bit-identical (tested).

This rewrite puts contrib ops into the file: TensorRT and other runtimes cannot read it, so only the ONNX Runtime
int8 deploy configs enable it (``quantization=dict(fuse_matmul_bias=True)``); the TensorRT int8 path keeps the
plain Q/DQ file.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

MS_DOMAIN = "com.microsoft"


def _is_1d_initializer(name: str, initializers: dict[str, Any]) -> bool:
    """Whether ``name`` is a float initializer of rank 1 (a bias)."""
    init = initializers.get(name)
    return init is not None and len(init.dims) == 1 and init.data_type == 1  # TensorProto.FLOAT


def fuse_matmul_bias(model: Any) -> int:
    """Replace each ``DQ -> MatMul <- DQ(weight)`` followed by a bias ``Add`` with one ``MatMulIntegerToFloat``.

    Only MatMuls whose output is read by exactly one node, an ``Add`` with a 1-D float initializer (the bias), and is
    no graph output are rewritten; the activation's ``DequantizeLinear`` stays where other nodes read it, the
    weight's is removed when nothing else reads it. The weight must be an initializer (attention products, whose
    both inputs are activations, are left alone).

    Args:
        model: An ``onnx.ModelProto`` holding a Q/DQ graph (edited in place).

    Returns:
        The number of MatMul + Add pairs fused.
    """
    from onnx import helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    graph_outputs = {o.name for o in graph.output}
    replace: dict[int, Any] = {}
    drop: set[int] = set()
    for node in graph.node:
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        dq_a, dq_b = (producer.get(name) for name in node.input)
        if dq_a is None or dq_b is None or dq_a.op_type != "DequantizeLinear" or dq_b.op_type != "DequantizeLinear":
            continue
        if dq_b.input[0] not in initializers or node.output[0] in graph_outputs:
            continue
        if any(a.name == "axis" and a.i != 1 for a in dq_b.attribute):  # per-column weight scales only (axis 1)
            continue
        after = readers[node.output[0]]
        if len(after) != 1 or after[0].op_type != "Add":
            continue
        add = after[0]
        bias = next(name for name in add.input if name != node.output[0])
        if not _is_1d_initializer(bias, initializers):
            continue
        zero_a = dq_a.input[2] if len(dq_a.input) > 2 else ""
        zero_b = dq_b.input[2] if len(dq_b.input) > 2 else ""
        replace[id(node)] = helper.make_node(
            "MatMulIntegerToFloat", [dq_a.input[0], dq_b.input[0], dq_a.input[1], dq_b.input[1], zero_a, zero_b, bias],
            [add.output[0]], name=f"{node.name}_bias", domain=MS_DOMAIN)
        drop.add(id(add))
    if not replace:
        return 0
    nodes = [replace.get(id(n), n) for n in graph.node if id(n) not in drop]
    # Remove nodes nothing reads any more (the weights' DequantizeLinear), to a fixed point.
    while True:
        read = {name for n in nodes for name in n.input} | graph_outputs
        kept = [n for n in nodes if any(out in read for out in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for n in nodes for name in n.input}
    unused = [init for init in graph.initializer if init.name not in read]
    for init in unused:
        graph.initializer.remove(init)
    if not any(op.domain == MS_DOMAIN for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(replace)


def fuse_matmul_bias_file(path: str, out_path: str | None = None) -> int:
    """:func:`fuse_matmul_bias` on a file, written back to ``out_path`` (default: in place).

    Args:
        path: Q/DQ ONNX file.
        out_path: Where to write the fused model (default ``path``).

    Returns:
        The number of MatMul + Add pairs fused.
    """
    import onnx

    model = onnx.load(path)
    fused = fuse_matmul_bias(model)
    onnx.save(model, out_path or path)
    return fused
