"""int8 Q/DQ quantisation options (gen3d.deploy.quantize) on a tiny Conv -> MatMul graph."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gen3d.deploy.quantize import matching_nodes, quantize_qdq  # noqa: E402


@pytest.fixture
def tiny_model(tmp_path):
    """x (2, 3, 4, 4) -> Conv '/body/conv/Conv' (3 -> 4 channels) -> Flatten -> MatMul '/head/proj/MatMul' (64 -> 5)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 3, 1, 1)).astype(np.float32), "w")
    m = numpy_helper.from_array(rng.normal(size=(64, 5)).astype(np.float32), "m")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/body/conv/Conv"),
             helper.make_node("Flatten", ["c"], ["f"], name="/body/Flatten"),
             helper.make_node("MatMul", ["f", "m"], ["y"], name="/head/proj/MatMul")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])], [w, m])
    path = str(tmp_path / "fp32.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    feeds = [dict(x=rng.normal(size=(2, 3, 4, 4)).astype(np.float32)) for _ in range(3)]
    return path, feeds


def _quantised_inputs(path: str) -> dict[str, bool]:
    """Per Conv/MatMul node of a Q/DQ model: whether its weight (input 1) comes out of a DequantizeLinear."""
    model = onnx.load(path)
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    return {n.op_type: producer.get(n.input[1]) == "DequantizeLinear" for n in model.graph.node
            if n.op_type in ("Conv", "MatMul")}


def test_exclude_patterns_keep_matching_nodes_float(tiny_model, tmp_path):
    path, feeds = tiny_model
    everything = quantize_qdq(path, str(tmp_path / "all.onnx"), feeds)
    assert _quantised_inputs(everything) == {"Conv": True, "MatMul": True}
    kept = quantize_qdq(path, str(tmp_path / "head.onnx"), feeds, exclude_patterns=["/head/*"])
    assert _quantised_inputs(kept) == {"Conv": True, "MatMul": False}


def test_matching_nodes_by_op_type_and_unmatched_pattern_warns(tiny_model, caplog):
    path, _ = tiny_model
    assert matching_nodes(path, ["*"]) == ["/body/conv/Conv", "/head/proj/MatMul"]  # Flatten is no quantised type
    assert matching_nodes(path, ["*"], op_types=["MatMul"]) == ["/head/proj/MatMul"]
    assert matching_nodes(path, []) == []
    with caplog.at_level("WARNING", logger="gen3d.deploy.quantize"):
        assert matching_nodes(path, ["/head/*", "*output_proj*"]) == ["/head/proj/MatMul"]
    assert "*output_proj*" in caplog.text and "/head/*" not in caplog.text
