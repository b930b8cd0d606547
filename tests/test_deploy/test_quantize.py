"""int8 Q/DQ quantisation options (gen3d.deploy.quantize) on a tiny Conv -> MatMul graph."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gen3d.deploy.quantize import matching_nodes, quantize_qdq  # noqa: E402
from gen3d.runtime.hardware import cpu_saturates_u8s8  # noqa: E402


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


@pytest.fixture
def biased_model(tmp_path):
    """x (B, 6, 8) -> MatMul '/proj' (8 -> 5) -> Add bias -> Add residual r (B, 6, 5) -> MatMul '/out' (5 -> 3) -> y."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("w1", (8, 5)), ("b1", (5,)), ("w2", (5, 3)))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"], name="/proj/MatMul"),
             helper.make_node("Add", ["m1", "b1"], ["a1"], name="/proj/Add"),
             helper.make_node("Add", ["a1", "r"], ["a2"], name="/residual/Add"),
             helper.make_node("MatMul", ["a2", "w2"], ["y"], name="/out/MatMul")]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "biased", [helper.make_tensor_value_info("x", f, ["batch", 6, 8]),
                                                helper.make_tensor_value_info("r", f, ["batch", 6, 5])],
                              [helper.make_tensor_value_info("y", f, ["batch", 6, 3])], inits)
    path = str(tmp_path / "biased.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    feeds = [dict(x=rng.normal(size=(2, 6, 8)).astype(np.float32), r=rng.normal(size=(2, 6, 5)).astype(np.float32))
             for _ in range(3)]
    return path, feeds


def test_fuse_matmul_bias_is_bit_identical_and_drops_the_add(biased_model, tmp_path):
    import onnxruntime as ort

    path, feeds = biased_model
    opts = dict(symmetric_activations=False, exclude_output_quantization=["MatMul"])
    plain = quantize_qdq(path, str(tmp_path / "plain.onnx"), feeds, **opts)
    fused = quantize_qdq(path, str(tmp_path / "fused.onnx"), feeds, fuse_matmul_bias=True, **opts)
    nodes = onnx.load(fused).graph.node
    mm = [n for n in nodes if n.op_type == "MatMulIntegerToFloat"]
    assert len(mm) == 1 and mm[0].domain == "com.microsoft" and mm[0].input[6] == "b1"  # the biased MatMul only
    assert [n.name for n in nodes if n.op_type == "Add"] == ["/residual/Add"]  # the activation Add stays
    assert [n.op_type for n in nodes].count("MatMul") == 1  # '/out' has no bias: left to ONNX Runtime
    assert sum(n.op_type == "Add" for n in onnx.load(plain).graph.node) == 2
    for feed in feeds:
        a = ort.InferenceSession(plain, providers=["CPUExecutionProvider"]).run(None, feed)[0]
        b = ort.InferenceSession(fused, providers=["CPUExecutionProvider"]).run(None, feed)[0]
        np.testing.assert_array_equal(a, b)


def test_fuse_matmul_bias_refused_for_tensorrt_files(biased_model, tmp_path):
    path, feeds = biased_model
    with pytest.raises(ValueError, match="fuse_matmul_bias.*TensorRT"):
        quantize_qdq(path, str(tmp_path / "trt.onnx"), feeds, fuse_matmul_bias=True)


@pytest.fixture
def saturating_model(tmp_path):
    """x (B, 4, 64) -> MatMul '/proj' (64 -> 8, weights +-1: every one quantises to the int8 limit) -> Add b -> y."""
    w = np.ones((64, 8), np.float32)
    w[:, 1::2] = -1
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(8, np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="/proj/MatMul"),
             helper.make_node("Add", ["m", "b"], ["y"], name="/proj/Add")]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "sat", [helper.make_tensor_value_info("x", f, ["batch", 4, 64])],
                              [helper.make_tensor_value_info("y", f, ["batch", 4, 8])], inits)
    path = str(tmp_path / "sat.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    calib = np.concatenate([np.zeros((1, 4, 64)), np.ones((1, 4, 64))]).astype(np.float32)  # activations in [0, 1]
    return path, [dict(x=calib)], w


def test_reduce_range_avoids_u8s8_saturation_on_x86_without_vnni(saturating_model, tmp_path):
    """ONNX Runtime's x86 U8S8 kernels without VNNI (AVX2, AVX-512 before VNNI) add pairs of u8 x s8 products in
    int16 (VPMADDUBSW), which saturates at 32767: 2 x 255 x 127 does not fit. 7-bit weights (``reduce_range``:
    [-64, 64]) fit, 2 x 255 x 64 = 32640, on every CPU. Activations at the top of their range and weights at the
    int8 limit are the worst case: the exact product is 64 per output."""
    import onnxruntime as ort

    path, feeds, w = saturating_model
    x = np.ones((1, 4, 64), np.float32)
    opts = dict(symmetric_activations=False, exclude_output_quantization=["MatMul"], fuse_matmul_bias=True)
    outs = {}
    for reduce_range in (False, True):
        q = quantize_qdq(path, str(tmp_path / f"q{int(reduce_range)}.onnx"), feeds, reduce_range=reduce_range, **opts)
        weights = [numpy_helper.to_array(i) for i in onnx.load(q).graph.initializer if i.name == "w_quantized"]
        assert len(weights) == 1 and np.abs(weights[0]).max() == (64 if reduce_range else 127)
        outs[reduce_range] = ort.InferenceSession(q, providers=["CPUExecutionProvider"]).run(None, dict(x=x))[0]
    np.testing.assert_allclose(outs[True], np.broadcast_to(x @ w, outs[True].shape), rtol=1e-5)
    if cpu_saturates_u8s8():
        # This CPU saturates: the full-range file loses half of every output (32.4 instead of 64).
        assert np.abs(outs[False]).max() < 0.75 * 64


def test_symmetric_activations_saturate_too_and_exact_kernels_fix_every_full_range_file(saturating_model, tmp_path):
    """Symmetric int8 activations (the TensorRT file) run on x86 as uint8 shifted by 128, so full-range weights
    saturate there as well, and the shift's exact compensation turns the clipped sums into nonsense (0.5 for 64).
    Basic graph optimisation runs the Q/DQ pairs as written (simulated quantisation): exact on every CPU."""
    import onnxruntime as ort

    from gen3d.deploy.parity import ort_runner

    path, feeds, w = saturating_model
    x = np.ones((1, 4, 64), np.float32)
    exact = np.broadcast_to(x @ w, (1, 4, 8))
    for symmetric in (True, False):
        q = quantize_qdq(path, str(tmp_path / f"s{int(symmetric)}.onnx"), feeds, symmetric_activations=symmetric)
        np.testing.assert_allclose(ort_runner(q, exact_int8=True)(dict(x=x))["y"], exact, rtol=1e-2)
        fused = ort.InferenceSession(q, providers=["CPUExecutionProvider"]).run(None, dict(x=x))[0]
        if cpu_saturates_u8s8():
            assert np.abs(fused).max() < 0.75 * 64
        else:
            np.testing.assert_allclose(fused, exact, rtol=1e-2)


def test_runtime_runs_full_range_int8_bundles_exactly_where_the_cpu_saturates(saturating_model, tmp_path, monkeypatch):
    """make_backend reads onnx.quantization.reduce_range: full range (or not recorded: older bundles) on a
    saturating CPU gets exact Q/DQ kernels and a warning; 7-bit weights, fp32 files and VNNI CPUs keep the fused
    kernels."""
    import gen3d.runtime.hardware as hardware
    from gen3d.runtime.backend import make_backend

    path, feeds, w = saturating_model
    quantize_qdq(path, str(tmp_path / "q.onnx"), feeds, symmetric_activations=True)
    x = np.ones((1, 4, 64), np.float32)

    def backend(saturates, onnx_entry):
        monkeypatch.setattr(hardware, "cpu_saturates_u8s8", lambda: saturates)
        return make_backend("onnxruntime", str(tmp_path), {"onnx": {"file": "q.onnx", **onnx_entry}}, threads=1)

    with pytest.warns(UserWarning, match="q.onnx: full-range int8 weights.*reduce_range=True"):
        exact = backend(True, {"precision": "int8-qdq"})  # an older bundle: no quantization entry
    assert exact.exact_int8
    np.testing.assert_allclose(exact.run(dict(x=x))["y"], x @ w, rtol=1e-2)
    with pytest.warns(UserWarning, match="full-range"):
        assert backend(True, {"precision": "int8-qdq", "quantization": {"reduce_range": False}}).exact_int8
    assert not backend(True, {"precision": "int8-qdq", "quantization": {"reduce_range": True}}).exact_int8
    assert not backend(True, {"precision": "fp32"}).exact_int8
    assert not backend(False, {"precision": "int8-qdq"}).exact_int8


def test_deploy_benchmark_times_a_saturating_int8_file_as_the_runtime_runs_it(saturating_model, tmp_path,
                                                                               monkeypatch):
    """tools/benchmark.py deploy: on a saturating CPU a full-range Q/DQ file gets a row as the runtime runs it
    (exact, '-exact' kind: basic optimisation) beside the fused row; elsewhere only the fused row."""
    import gen3d.deploy.benchmark as bench
    import gen3d.runtime.hardware as hardware
    import gen3d.runtime.manifest as manifest_module

    path, feeds, w = saturating_model
    q = quantize_qdq(path, str(tmp_path / "q.onnx"), feeds, symmetric_activations=True)
    x = np.ones((1, 4, 64), np.float32)
    np.testing.assert_allclose(bench._make_ort(q, 1, (), "ort-exact").run(None, dict(x=x))[0], x @ w, rtol=1e-2)
    manifest = {"mode": "raw", "model": {"input_size": [64, 64]},
                "onnx": {"file": "q.onnx", "precision": "int8-qdq"}, "onnx_fp32": {"file": "sat.onnx"}}
    monkeypatch.setattr(manifest_module, "load_manifest", lambda bundle: manifest)
    seen: dict = {}
    monkeypatch.setattr(bench, "bench_deploy", lambda variants, *a, **k: seen.update(variants) or [])
    for saturates in (True, False):
        seen.clear()
        monkeypatch.setattr(hardware, "cpu_saturates_u8s8", lambda saturates=saturates: saturates)
        bench.bench_bundles([str(tmp_path)], batch_sizes=(1,), spin="off")
        kinds = sorted(kind for kind, _ in seen.values())
        assert kinds == (["ort", "ort", "ort-exact"] if saturates else ["ort", "ort"]), seen
