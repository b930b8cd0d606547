"""CPU tests of the TensorRT op-support lint (no TensorRT needed)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gen3d.deploy.trt_op_tables import SUPPORTED, UNSUPPORTED
from gen3d.deploy.trt_ops import (
    LintIssue,
    format_lint_report,
    has_errors,
    lint_onnx_for_tensorrt,
    normalize_trt_version,
)

FLOAT = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, dtype=FLOAT, shape=(1, 3, 8, 8)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _errors(issues, op_type=None):
    return [i for i in issues if i.severity == "error" and (op_type is None or i.op_type == op_type)]


def _relu_model(opset=17):
    return _model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [_vi("x")], [_vi("y")], opset=opset)


def test_tables_are_consistent():
    for version in ("8.6", "10"):
        assert not set(SUPPORTED[version]) & UNSUPPORTED[version]
        assert {"Conv", "Relu", "Resize", "MatMul", "Softmax"} <= set(SUPPORTED[version])
    assert "Unique" in UNSUPPORTED["10"] and "Gelu" in SUPPORTED["10"] and "Gelu" not in SUPPORTED["8.6"]


@pytest.mark.parametrize("version", ["8.6", "10", "10.3.0", "8.6.2.3"])
def test_supported_op_is_clean(version):
    assert lint_onnx_for_tensorrt(_relu_model(), version) == []


def test_unknown_version():
    with pytest.raises(ValueError, match="No onnx-tensorrt operator table"):
        normalize_trt_version("7.2")


@pytest.mark.parametrize("op", ["Unique", "ConvInteger"])
@pytest.mark.parametrize("version", ["8.6", "10"])
def test_unsupported_op_is_an_error(op, version):
    if op == "Unique":
        node = helper.make_node("Unique", ["x"], ["y"], name="u")
        model = _model([node], [_vi("x", shape=(8,))], [_vi("y", shape=(None,))])
    else:
        node = helper.make_node("ConvInteger", ["x", "w"], ["y"], name="ci")
        w = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.uint8), "w")
        model = _model([node], [_vi("x", TensorProto.UINT8)], [_vi("y", TensorProto.INT32)], [w])
    errors = _errors(lint_onnx_for_tensorrt(model, version), op)
    assert errors and errors[0].node in ("u", "ci")
    assert "not supported" in errors[0].message or "not in the TensorRT" in errors[0].message


def test_custom_domain_needs_plugin():
    node = helper.make_node("grid_sampler", ["x"], ["y"], name="gs", domain="mmdeploy")
    model = _model([node], [_vi("x")], [_vi("y")])
    model.opset_import.append(helper.make_opsetid("mmdeploy", 1))
    assert "plugin" in _errors(lint_onnx_for_tensorrt(model, "10"))[0].message


def test_opset18_errors_on_86_but_not_on_10():
    model = _relu_model(opset=18)
    errors = _errors(lint_onnx_for_tensorrt(model, "8.6"))
    assert len(errors) == 1 and "opset 18" in errors[0].message and errors[0].node == "<graph>"
    assert lint_onnx_for_tensorrt(model, "10") == []
    assert _errors(lint_onnx_for_tensorrt(_relu_model(opset=21), "10"))


def _resize(antialias=0, mode="linear", coord="half_pixel"):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="rs", mode=mode,
                            coordinate_transformation_mode=coord, antialias=antialias)
    return _model([node], [_vi("x")], [_vi("y", shape=(1, 3, 16, 16))], [scales], opset=18)


def test_resize_antialias_is_an_error():
    assert lint_onnx_for_tensorrt(_resize(), "10") == []
    errors = _errors(lint_onnx_for_tensorrt(_resize(antialias=1), "10"), "Resize")
    assert len(errors) == 1 and "antialias" in errors[0].message


def test_resize_modes():
    assert "tf_crop_and_resize" in _errors(lint_onnx_for_tensorrt(_resize(coord="tf_crop_and_resize"), "10"))[0].message
    issues = lint_onnx_for_tensorrt(_resize(mode="cubic"), "10")
    assert not has_errors(issues) and issues[0].severity == "warning" and "cubic" in issues[0].message


@pytest.mark.parametrize("version", ["8.6", "10"])
def test_scatternd_reduction_is_an_error(version):
    idx = numpy_helper.from_array(np.zeros((1, 1), np.int64), "idx")
    node = helper.make_node("ScatterND", ["x", "idx", "u"], ["y"], name="sc", reduction="add")
    model = _model([node], [_vi("x", shape=(4, 2)), _vi("u", shape=(1, 2))], [_vi("y", shape=(4, 2))], [idx], 16)
    errors = _errors(lint_onnx_for_tensorrt(model, version), "ScatterND")
    assert len(errors) == 1 and "reduction" in errors[0].message
    model.graph.node[0].ClearField("attribute")
    assert not _errors(lint_onnx_for_tensorrt(model, version))


def test_pad_with_computed_pads_and_axes():
    shape = helper.make_node("Shape", ["x"], ["s"], name="shape")
    cast = helper.make_node("Concat", ["s", "s"], ["pads"], name="pads", axis=0)
    pad = helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")
    model = _model([shape, cast, pad], [_vi("x")], [_vi("y", shape=(None,) * 4)])
    issues = [i for i in lint_onnx_for_tensorrt(model, "10") if i.op_type == "Pad"]
    assert len(issues) == 1 and issues[0].severity == "warning" and "pads" in issues[0].message
    # pads from an initializer: clean
    pads = numpy_helper.from_array(np.zeros(8, np.int64), "p0")
    clean = _model([helper.make_node("Pad", ["x", "p0"], ["y"], name="pad")], [_vi("x")], [_vi("y")], [pads])
    assert lint_onnx_for_tensorrt(clean, "10") == []


def test_axes_inputs_must_be_initializers():
    shape = helper.make_node("Shape", ["x"], ["s"], name="shape")
    gather = helper.make_node("Gather", ["s", "zero"], ["axes"], name="g")
    red = helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="rsum")
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    model = _model([shape, gather, red], [_vi("x")], [_vi("y", shape=(None,) * 4)], [zero], 13)
    errors = _errors(lint_onnx_for_tensorrt(model, "8.6"), "ReduceSum")
    assert len(errors) == 1 and "axes" in errors[0].message


def test_subgraph_nodes_are_checked():
    then_g = helper.make_graph([helper.make_node("Unique", ["x"], ["t"], name="inner")], "then", [],
                               [_vi("t", shape=(None,))])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"], name="id")], "else", [],
                               [_vi("e", shape=(None,))])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)
    model = _model([node], [_vi("c", TensorProto.BOOL, ()), _vi("x", shape=(8,))], [_vi("y", shape=(None,))])
    errors = _errors(lint_onnx_for_tensorrt(model, "10"))
    assert [e.node for e in errors] == ["if/then_branch/inner"]


def test_uint8_input_and_int64_on_86():
    cast = helper.make_node("Cast", ["img"], ["f"], name="cast", to=FLOAT)
    relu = helper.make_node("Relu", ["f"], ["y"], name="relu")
    model = _model([cast, relu], [_vi("img", TensorProto.UINT8), _vi("k", TensorProto.INT64, (1,))], [_vi("y")])
    model.graph.node.append(helper.make_node("Identity", ["k"], ["k_out"], name="idk"))
    model.graph.output.append(_vi("k_out", TensorProto.INT64, (1,)))
    assert lint_onnx_for_tensorrt(model, "10") == []
    warnings = lint_onnx_for_tensorrt(model, "8.6")
    assert warnings and all(w.severity == "warning" and "INT32" in w.message for w in warnings)
    bad = _model([helper.make_node("Relu", ["img"], ["y"], name="relu")], [_vi("img", TensorProto.UINT8)],
                 [_vi("y", TensorProto.UINT8)])
    assert any("UINT8" in e.message for e in _errors(lint_onnx_for_tensorrt(bad, "10")))


def test_neg_inf_mask_warning():
    mask = numpy_helper.from_array(np.array([[0, -np.inf], [0, 0]], np.float32), "mask")
    add = helper.make_node("Add", ["x", "mask"], ["s"], name="add_mask")
    sm = helper.make_node("Softmax", ["s"], ["y"], name="softmax", axis=-1)
    model = _model([add, sm], [_vi("x", shape=(2, 2))], [_vi("y", shape=(2, 2))], [mask])
    issues = lint_onnx_for_tensorrt(model, "10")
    assert [(i.severity, i.node) for i in issues] == [("warning", "add_mask")] and "FP16" in issues[0].message
    assert lint_onnx_for_tensorrt(model, "10", fp16=False) == []
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([[0, -1e4], [0, 0]], np.float32), "mask"))
    assert lint_onnx_for_tensorrt(model, "10") == []


def test_format_report():
    issues = [LintIssue("warning", "a", "Pad", "w"), LintIssue("error", "b", "Unique", "e")]
    text = format_lint_report(issues, "10.3")
    assert text.splitlines()[0].startswith("TensorRT op lint for TensorRT 10 (onnx/onnx-tensorrt 10.1-GA")
    assert "1 error(s), 1 warning(s)" in text and text.splitlines()[1].lstrip().startswith("ERROR")
    assert has_errors(issues) and not has_errors(issues[:1])


@pytest.fixture(scope="module")
def uniad_onnx(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from gen3d.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(dict(
        type="UniAD", backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", pretrained=False),
        input_size=(64, 64), reconstruction=dict(hidden_dim=32, num_heads=2, num_encoder_layers=1,
                                                  num_decoder_layers=1, dim_feedforward=64))).eval()

    class TensorPath(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner._forward(x)

    path = str(tmp_path_factory.mktemp("uniad") / "uniad.onnx")
    with torch.no_grad():
        torch.onnx.export(TensorPath(model), (torch.rand(1, 3, 64, 64),), path, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["anomaly_map", "pred_score"],
                          dynamic_axes={"input": {0: "batch"}})
    return path


@pytest.mark.parametrize("version", ["8.6", "10"])
def test_uniad_export_has_no_errors(uniad_onnx, version):
    issues = lint_onnx_for_tensorrt(onnx.load(uniad_onnx), version)
    assert not has_errors(issues), format_lint_report(issues, version)
    # Known warnings of this export: timm 'same' padding computes Pad pads in-graph; the neighbour mask is -inf.
    assert {i.op_type for i in issues} <= {"Pad", "Add"}
    assert any(i.op_type == "Add" and "-inf" in i.message for i in issues)
