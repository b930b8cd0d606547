"""fp16 ONNX conversion (TensorRT 11's only fp16 route): the converted file passes the task-level gate in ONNX
Runtime on CPU against PyTorch on the tiny UniAD, keeps float32 I/O and keeps the sensitive ops in float32."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gen3d.deploy.fp16_convert import (
    KEEP_FLOAT_OPS,
    Fp16ConverterNotAvailableError,
    convert_to_fp16,
    is_fp16_graph,
    pick_converter,
)
from tests.conftest import REPO_ROOT, run_tool_main

pytest.importorskip("onnxconverter_common", reason="onnxconverter-common is not installed (gen3d[fp16])")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")


def _tricky_graph(path):
    """uint8 -> float Cast at the start, an output that a kept (float32) node reads too, a shared constant."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    w = numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), "w")
    nodes = [helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT, name="cast"),
             helper.make_node("MatMul", ["f", "w"], ["h"], name="matmul"),
             helper.make_node("Mul", ["h", "two"], ["raw"], name="mul"),          # fp16 reader of 'two'
             helper.make_node("Div", ["raw", "two"], ["score"], name="div"),      # float32 reader of 'two' and 'raw'
             helper.make_node("ReduceSum", ["score"], ["total"], keepdims=0, name="sum")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.UINT8, ["b", 4])],
                              [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["b", 3]),
                               helper.make_tensor_value_info("total", TensorProto.FLOAT, [])], [two, w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def _run(path, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def test_converted_graph_runs_and_keeps_float_io(tmp_path):
    src = _tricky_graph(tmp_path / "m.onnx")
    info = convert_to_fp16(src, str(tmp_path / "out" / "m_fp16.onnx"))
    assert info["converter"] in ("modelopt", "onnxconverter-common") and info["keep_io_types"]
    out_path = str(tmp_path / "out" / "m_fp16.onnx")
    assert is_fp16_graph(out_path) and not is_fp16_graph(src)
    model = onnx.load(out_path)
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [TensorProto.FLOAT] * 2
    feeds = {"image": np.arange(8, dtype=np.uint8).reshape(2, 4) * 17}
    ref, got = _run(src, feeds), _run(out_path, feeds)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=2e-3, atol=1e-3)


def test_no_converter_names_what_to_install(monkeypatch):
    import gen3d.deploy.fp16_convert as fp16

    monkeypatch.setattr(fp16, "available_converters", lambda: [])
    with pytest.raises(Fp16ConverterNotAvailableError, match="pip install onnxconverter-common") as err:
        pick_converter()
    assert isinstance(err.value, ImportError) and "nvidia-modelopt" in str(err.value)
    with pytest.raises(ValueError, match="not 'auto'"):
        pick_converter("fp16ify")


@pytest.fixture(scope="module")
def uniad_fp32(tmp_path_factory, trained_tiny_uniad):
    """The tiny UniAD trained for 2 epochs and its end2end fp32 graph as the TensorRT configs export it."""
    from mmengine.config import Config

    from gen3d.apis.inference import init_model
    from gen3d.deploy.anomaly_bundle import export_anomaly
    from gen3d.deploy.parity import load_eval_set
    from gen3d.utils.config import apply_data_root

    root, work = trained_tiny_uniad  # the tiny UniAD trained once per worker (tests/conftest.py): read-only
    model = init_model(str(work / "epoch_2.pth"), TINY)
    apply_data_root(model.cfg, str(root))
    classes = list(model.thresholds)
    dcfg = Config.fromfile(str(REPO_ROOT / "deploy" / "anomaly_tensorrt-fp16_dynamic-1-8-16.py"))
    dcfg.onnx_config.input_shape = None  # the model's own 64 px
    eval_set = load_eval_set(model.cfg, classes, model.input_size, 16)
    path = str(tmp_path_factory.mktemp("fp32") / "model.onnx")
    defaults, *_ = export_anomaly(model, dcfg, path, classes, eval_set)
    return model, eval_set, defaults, path, str(work / "epoch_2.pth"), str(root)


def test_fp16_uniad_passes_the_task_gate(uniad_fp32, tmp_path):
    from gen3d.deploy.parity import backend_outputs, check_task_parity, ort_runner, torch_outputs

    model, eval_set, defaults, fp32_path, _, _ = uniad_fp32
    fp16_path = str(tmp_path / "model_fp16.onnx")
    info = convert_to_fp16(fp32_path, fp16_path)
    assert info["float16_initializers"] > 0
    assert {"ReduceSum", "Softmax", "LayerNormalization", "Sqrt"} <= set(info["float32_ops_kept"])
    ref = torch_outputs(model, eval_set, (defaults["image_threshold"], defaults["pixel_threshold"]))
    out32 = backend_outputs(ort_runner(fp32_path), eval_set, batch_size=8, extra=defaults)
    out16 = backend_outputs(ort_runner(fp16_path), eval_set, batch_size=8, extra=defaults)
    gate = check_task_parity(ref, out16, eval_set.labels, what="onnxruntime fp16 (converted)")  # raises on failure
    assert gate["label_agreement_outside_margin"] == 1.0 and gate["auroc_drop"] <= 0.005
    # measured 2026-12-02 on this model: max |diff| vs the fp32 graph 7.6e-4 (map), 3.6e-4 (score)
    assert np.abs(out16["anomaly_map"] - out32["anomaly_map"]).max() < 5e-3
    assert np.abs(out16["pred_score"] - out32["pred_score"]).max() < 5e-3
    # the kept ops really compute in float32 in the written file
    inferred = onnx.shape_inference.infer_shapes(onnx.load(fp16_path))
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    kept = [n for n in inferred.graph.node if n.op_type in KEEP_FLOAT_OPS and n.output[0] in types]
    halves = [n.name for n in kept if types[n.output[0]] == TensorProto.FLOAT16]  # (comparisons give bool)
    assert len(kept) > 20 and not halves


def test_deploy_tool_on_tensorrt_11_records_timing_cache_and_fp16_file(uniad_fp32, tmp_path, monkeypatch):
    """tools/deploy.py with an fp16 TensorRT config on the TensorRT 11 stand-in: strongly typed build of the
    converted file, the timing cache persisted under the work dir, both recorded in the sealed manifest."""
    import gen3d.deploy.anomaly_bundle as bundle
    import gen3d.deploy.tensorrt_builder as builder
    from gen3d.runtime.manifest import load_manifest
    from tests.helpers.fake_tensorrt import installed, make_tensorrt

    *_, ckpt, root = uniad_fp32
    monkeypatch.setattr(builder, "cuda_device_identity", lambda device=0: ("H100", (9, 0)))
    stand_in = {"backend": "stand-in: not run"}  # the engine gate needs a GPU
    monkeypatch.setattr(bundle, "anomaly_engine_parity", lambda *a, **k: stand_in)
    work = tmp_path / "bundle"
    with installed(make_tensorrt("11.4.0")) as trt:
        out = run_tool_main("deploy.py", str(REPO_ROOT / "deploy" / "anomaly_tensorrt-fp16_dynamic-1-8-16.py"), TINY,
                            ckpt, "--work-dir", str(work), "--data-root", root, "--max-images", "4", "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    engine = load_manifest(str(work))["engine"]
    assert engine["tensorrt"] == "11.4.0" and engine["strongly_typed"] and engine["precision"] == "fp16"
    assert engine["timing_cache"] == "tensorrt_timing.cache" and (work / "tensorrt_timing.cache").is_file()
    assert engine["built_from"]["file"] == "model_fp16.onnx" and engine["workspace"] == 2 << 30
    assert [a for n, a in trt.calls if n == "set_flag"] == []
    assert [a[0] for n, a in trt.calls if n == "parse_from_file"] == [str(work / "model_fp16.onnx")]
    # the thresholds are real inputs of the converted file too (not folded), with every dynamic axis profiled
    assert {a[0] for n, a in trt.calls if n == "set_shape"} == {"image", "class_index"}
