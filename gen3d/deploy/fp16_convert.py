"""FP32 ONNX -> mixed-precision FP16 ONNX, for strongly typed TensorRT builds (the only kind TensorRT 11 makes).

TensorRT 11 removed ``BuilderFlag.FP16``: precision lives in the graph, so an fp16 engine is built from a file
whose tensors are already float16 (NVIDIA's route: ModelOpt AutoCast; docs.nvidia.com/deeplearning/tensorrt/latest/
api/migration/tensorrt-10x-to-11x-python-api-patterns.html). Converters, first available wins (``converter='auto'``):

* ``'modelopt'``: ``modelopt.onnx.autocast.convert_to_mixed_precision(onnx_path, low_precision_type='fp16',
  keep_io_types=True, op_types_to_exclude=..., nodes_to_exclude=...)`` from ``nvidia-modelopt[onnx]`` (signature as
  documented at nvidia.github.io/Model-Optimizer/guides/8_autocast.html; not installed or run in this project: its
  ``[onnx]`` extra pins an older onnx and pulls onnxruntime-gpu, so give it its own venv).
* ``'onnxconverter-common'``: ``onnxconverter_common.float16.convert_float_to_float16(model, keep_io_types=True,
  op_block_list=..., node_block_list=...)`` (``pip install onnxconverter-common``, or ``gen3d[fp16]``); measured here.

Both keep graph inputs and outputs float32 (``keep_io_types``), so the runtime contract does not change. The ops in
:data:`KEEP_FLOAT_OPS` stay float32: the reductions and the normalisation (sums of many squares overflow or lose
digits in fp16: half's largest value is 65504, 11 significant bits), Softmax, and the score path (Resize of the
map, pooling, comparisons with the thresholds). The measured fp16 result of the tiny UniAD test model against the
fp32 graph is in ``tests/test_deploy/test_fp16_convert.py``.
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

CONVERTERS = ("modelopt", "onnxconverter-common")

# Ops whose outputs stay float32 (inputs are cast up before them). Reductions and normalisation: accumulations of
# many terms; Softmax: exp range; Pow/Sqrt/Div/Exp/Log: fp16 overflow/underflow; Resize/pooling/comparisons: the
# anomaly map and score that the thresholds are compared with.
KEEP_FLOAT_OPS = ("ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceMax", "ReduceMin", "ReduceProd",
                  "ReduceLogSumExp", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
                  "BatchNormalization", "Softmax", "LogSoftmax", "Pow", "Sqrt", "Div", "Exp", "Log", "Erf",
                  "Resize", "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Greater",
                  "GreaterOrEqual", "Less", "LessOrEqual", "Clip", "Max", "Min", "CumSum", "TopK", "ArgMax")


class Fp16ConversionError(RuntimeError):
    """The converter failed, or its output is not a valid mixed-precision graph."""


class Fp16ConverterNotAvailableError(ImportError):
    """Neither ModelOpt AutoCast nor onnxconverter-common is installed."""


def available_converters() -> list[str]:
    """The converters that import here, in preference order (subset of :data:`CONVERTERS`)."""
    found = []
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision  # noqa: F401

        found.append("modelopt")
    except Exception:  # noqa: BLE001 - any import failure (missing, broken CUDA deps) means "not available"
        pass
    try:
        from onnxconverter_common.float16 import convert_float_to_float16  # noqa: F401

        found.append("onnxconverter-common")
    except ImportError:
        pass
    return found


def pick_converter(converter: str = "auto") -> str:
    """Resolve ``converter`` (``'auto'`` or one of :data:`CONVERTERS`) to one that imports.

    Raises:
        ValueError: Unknown name.
        Fp16ConverterNotAvailableError: The asked one (or, for ``'auto'``, every one) is not installed; the message
            says what to install.
    """
    if converter != "auto" and converter not in CONVERTERS:
        raise ValueError(f"fp16 converter {converter!r} is not 'auto' or one of {CONVERTERS}")
    found = available_converters()
    if converter == "auto" and found:
        return found[0]
    if converter in found:
        return converter
    raise Fp16ConverterNotAvailableError(
        f"no fp16 ONNX converter{'' if converter == 'auto' else f' {converter!r}'} is installed: TensorRT 11 (and "
        "strongly typed TensorRT 10 builds) need an fp16 ONNX file. Install one: `pip install onnxconverter-common` "
        "(or `pip install gen3d[fp16]`), or NVIDIA ModelOpt `pip install 'nvidia-modelopt[onnx]'` (in its own venv: "
        "it pins its own onnx and onnxruntime-gpu). Or build fp32, or use the weakly typed FP16 flag on TensorRT 10.")


def _detach_graph_outputs(model: Any) -> int:
    """Let each graph output that nodes also read come out of its own Identity (internal readers keep the tensor).

    onnxconverter-common 1.16 casts such an output (e.g. ``raw_score``, also divided by the threshold for
    ``pred_score``) to float16 in place and leaves its float32 readers reading it. Returns how many were detached.
    """
    from onnx import helper

    read = {i for node in model.graph.node for i in node.input}
    detached = 0
    for output in model.graph.output:
        if output.name not in read:
            continue
        inner = f"{output.name}__inner"
        for node in model.graph.node:
            node.input[:] = [inner if i == output.name else i for i in node.input]
            node.output[:] = [inner if o == output.name else o for o in node.output]
        model.graph.node.append(helper.make_node("Identity", [inner], [output.name], name=f"{output.name}__out"))
        detached += 1
    return detached


def _split_mixed_initializers(model: Any, blocked_ops: Sequence[str], blocked_nodes: Sequence[str]) -> int:
    """Give the float16 consumers of an initializer that a float32 (blocked) node also reads their own copy.

    onnxconverter-common 1.16 keeps such a shared initializer float32 for every consumer, and ONNX Runtime then
    refuses the file ("Type parameter (T) of Optype (Mul) bound to different types (tensor(float16) and
    tensor(float))"; seen on the UniAD end2end graph). Returns how many copies were made.
    """
    from onnx import TensorProto

    floats = {t.name: t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT}
    ops, nodes = set(blocked_ops), set(blocked_nodes)
    consumers: dict[str, list[tuple[Any, bool]]] = {}
    for node in model.graph.node:
        for name in set(node.input) & set(floats):
            consumers.setdefault(name, []).append((node, node.op_type in ops or node.name in nodes))
    copies = 0
    for name, users in consumers.items():
        if len({blocked for _, blocked in users}) < 2:
            continue
        twin = type(floats[name])()
        twin.CopyFrom(floats[name])
        twin.name = f"{name}__fp16_twin"
        model.graph.initializer.append(twin)
        for node, blocked in users:
            if not blocked:
                node.input[:] = [twin.name if i == name else i for i in node.input]
        copies += 1
    return copies


def _restore_float_outputs(model: Any, names: Sequence[str]) -> int:
    """Cast back to float32 each of ``names`` (float32 outputs of the source) that the converter declared float16.

    onnxconverter-common 1.16 declares the output of a kept (float32) node float16 when it is a graph output (seen
    with a ReduceSum at the end). A Cast to float is right whichever type the producer really has. Returns the count.
    """
    from onnx import TensorProto, helper

    wanted, fixed = set(names), 0
    for output in model.graph.output:
        if output.name not in wanted or output.type.tensor_type.elem_type == TensorProto.FLOAT:
            continue
        inner = f"{output.name}__half"
        for node in model.graph.node:
            node.input[:] = [inner if i == output.name else i for i in node.input]
            node.output[:] = [inner if o == output.name else o for o in node.output]
        model.graph.node.append(helper.make_node("Cast", [inner], [output.name], to=TensorProto.FLOAT,
                                                 name=f"{output.name}__to_float"))
        output.type.tensor_type.elem_type = TensorProto.FLOAT
        fixed += 1
    return fixed


def _retarget_casts(model: Any) -> int:
    """Set ``to=FLOAT16`` on graph Casts whose output the converter typed float16 but left ``to=FLOAT``.

    onnxconverter-common 1.16 retypes the value_info of a Cast's output (e.g. the uint8 image -> float Cast at the
    graph's start) without touching the Cast's ``to`` attribute; ONNX Runtime then refuses the file ("Type
    (tensor(float16)) of output arg (/Cast_output_0) of node (/Cast) does not match expected type (tensor(float))").
    Returns how many Casts were changed.
    """
    from onnx import TensorProto

    half = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == TensorProto.FLOAT16}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Cast" or not node.output or node.output[0] not in half:
            continue
        for attr in node.attribute:
            if attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
                changed += 1
    return changed


def _float_ops_present(model: Any, keep_ops: Sequence[str]) -> list[str]:
    ops = {n.op_type for n in model.graph.node}
    return sorted(ops & set(keep_ops))


def convert_to_fp16(onnx_path: str, output_path: str, converter: str = "auto",
                    keep_float_ops: Sequence[str] = KEEP_FLOAT_OPS, keep_float_nodes: Sequence[str] = ()
                    ) -> dict[str, Any]:
    """Write a mixed-precision copy of ``onnx_path``: float16 inside, float32 inputs/outputs.

    Args:
        onnx_path: The fp32 ONNX file.
        output_path: Where to write the converted file (its folder is created).
        converter: ``'auto'`` (ModelOpt when installed, else onnxconverter-common), ``'modelopt'`` or
            ``'onnxconverter-common'``.
        keep_float_ops: Op types kept in float32 (default :data:`KEEP_FLOAT_OPS`).
        keep_float_nodes: Node names kept in float32 as well.

    Returns:
        ``{'converter', 'file', 'float16_initializers', 'float32_ops_kept', 'keep_io_types': True}`` for the
        manifest.

    Raises:
        FileNotFoundError: No ``onnx_path``.
        Fp16ConverterNotAvailableError: No converter installed (an ``ImportError`` naming what to install).
        Fp16ConversionError: The converter failed or wrote an invalid graph.
    """
    import onnx
    from onnx import TensorProto

    if not osp.isfile(onnx_path):
        raise FileNotFoundError(f"ONNX file {onnx_path} not found")
    name = pick_converter(converter)
    keep_ops, keep_nodes = list(keep_float_ops), list(keep_float_nodes)
    try:
        if name == "modelopt":
            from modelopt.onnx.autocast import convert_to_mixed_precision

            model = convert_to_mixed_precision(onnx_path=onnx_path, low_precision_type="fp16", keep_io_types=True,
                                               op_types_to_exclude=keep_ops, nodes_to_exclude=keep_nodes or None)
        else:
            from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

            blocked = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(keep_ops))
            model = onnx.load(onnx_path)
            float_outputs = [o.name for o in model.graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT]
            _detach_graph_outputs(model)
            _split_mixed_initializers(model, blocked, keep_nodes)
            model = convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked,
                                             node_block_list=keep_nodes)
            _retarget_casts(model)
            _restore_float_outputs(model, float_outputs)
            del model.graph.value_info[:]  # stale float32 entries on inserted Casts; the types follow from the nodes
        onnx.checker.check_model(model)
    except (ImportError, Fp16ConverterNotAvailableError):
        raise
    except Exception as err:  # noqa: BLE001 - converters raise anything; say which file and converter
        raise Fp16ConversionError(f"{name} could not convert {onnx_path} to fp16: {type(err).__name__}: {err}"
                                  ) from err
    halves = sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16)
    if not halves and not any(n.op_type == "Cast" for n in model.graph.node):
        raise Fp16ConversionError(f"{name} left {onnx_path} without any float16 tensor: nothing to build in fp16")
    os.makedirs(osp.dirname(osp.abspath(output_path)), exist_ok=True)
    onnx.save(model, output_path)
    return {"converter": name, "file": osp.basename(output_path), "float16_initializers": int(halves),
            "float32_ops_kept": _float_ops_present(model, keep_ops), "keep_io_types": True}


def is_fp16_graph(onnx_path: str) -> bool:
    """Whether the graph already holds float16 initializers or casts to float16 (a converted file)."""
    import onnx

    model = onnx.load(onnx_path, load_external_data=False)
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return True
    return any(n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in n.attribute)
               for n in model.graph.node)
