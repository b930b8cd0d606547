"""TensorRT builder: pure-Python parts on CPU; the build itself behind the ``tensorrt`` marker."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from gen3d.deploy.tensorrt_builder import (
    DEFAULT_WORKSPACE,
    EngineInfo,
    build_engine,
    engine_cache_key,
    onnx_has_qdq,
    parse_backend_config,
    parse_profiles,
    parse_workspace,
)
from gen3d.runtime.trt_backend import TensorRTNotAvailableError


def _trt_usable() -> bool:
    try:
        import tensorrt

        return hasattr(tensorrt, "Builder")
    except Exception:
        return False


requires_trt = pytest.mark.skipif(not _trt_usable(), reason="TensorRT is not installed")

SHAPES = dict(image=dict(min_shape=[1, 3, 8, 8], opt_shape=[2, 3, 8, 8], max_shape=[4, 3, 8, 8]))
CONFIG = dict(type="tensorrt", common_config=dict(precision="fp16", max_workspace_size="256MiB"),
              model_inputs=[dict(input_shapes=SHAPES)])


def _onnx(path, qdq=False):
    nodes = [helper.make_node("Relu", ["image"], ["out"], name="relu")]
    inits = []
    if qdq:
        inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                 numpy_helper.from_array(np.array(0, np.int8), "z")]
        nodes = [helper.make_node("QuantizeLinear", ["image", "s", "z"], ["q"]),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
                 helper.make_node("Relu", ["dq"], ["out"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["b", 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", 3, 8, 8])], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


@pytest.mark.parametrize("value, expected", [(None, DEFAULT_WORKSPACE), (1024, 1024), ("512MiB", 512 << 20),
                                             ("1GiB", 1 << 30), ("2GB", 2 * 10**9), ("1.5 GiB", 3 << 29)])
def test_parse_workspace(value, expected):
    assert parse_workspace(value) == expected


@pytest.mark.parametrize("value", ["lots", "1TB", 0, -5, True])
def test_parse_workspace_rejects(value):
    with pytest.raises(ValueError):
        parse_workspace(value)


def test_parse_backend_config():
    settings = parse_backend_config(CONFIG)
    assert settings.precision == "fp16" and settings.workspace == 256 << 20 and not settings.strongly_typed
    assert settings.profiles == [{"image": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))}]
    legacy = parse_backend_config(dict(type="tensorrt", common_config=dict(fp16_mode=True, int8_mode=True)))
    assert legacy.precision == "int8" and legacy.profiles == [] and legacy.workspace == DEFAULT_WORKSPACE
    assert parse_backend_config({}).precision == "fp32"
    with pytest.raises(ValueError, match="precision"):
        parse_backend_config(dict(common_config=dict(precision="fp8")))
    with pytest.raises(ValueError, match="expected 'tensorrt'"):
        parse_backend_config(dict(type="onnxruntime"))


def test_parse_profiles_static_and_errors():
    assert parse_profiles([dict(input_shapes=dict(x=dict(shape=[1, 3])))]) == [{"x": ((1, 3),) * 3}]
    with pytest.raises(ValueError, match=r"model_inputs\[0\].input_shapes.x.*min <= opt <= max"):
        parse_profiles([dict(input_shapes=dict(x=dict(min_shape=[2], opt_shape=[1], max_shape=[4])))])
    with pytest.raises(ValueError, match="ranks differ"):
        parse_profiles([dict(input_shapes=dict(x=dict(min_shape=[1], opt_shape=[1, 2], max_shape=[1])))])
    with pytest.raises(ValueError, match="missing"):
        parse_profiles([dict(input_shapes=dict(x=dict(min_shape=[1])))])
    with pytest.raises(ValueError, match="positive ints"):
        parse_profiles([dict(input_shapes=dict(x=dict(shape=[0, -1])))])
    with pytest.raises(ValueError, match="input_shapes"):
        parse_profiles([dict()])


def test_cache_key():
    profiles = parse_profiles([dict(input_shapes=dict(a=dict(shape=[1, 2]), b=dict(shape=[3])))])
    swapped = parse_profiles([dict(input_shapes=dict(b=dict(shape=[3]), a=dict(shape=[1, 2])))])
    base = ("10.3.0", "Orin", (8, 7), "fp16", profiles, "ab" * 32)
    key = engine_cache_key(*base)
    assert len(key) == 64 and key == engine_cache_key(*base) == engine_cache_key(*base[:4], swapped, base[5])
    assert key == engine_cache_key("10.3.0", "Orin", "8.7", "fp16", profiles, "ab" * 32)
    variants = [("8.6.2", *base[1:]), (base[0], "RTX 4090", *base[2:]), (*base[:2], (8, 9), *base[3:]),
                (*base[:3], "fp32", *base[4:]), (*base[:5], "cd" * 32),
                (*base[:4], parse_profiles([dict(input_shapes=dict(a=dict(shape=[2, 2]), b=dict(shape=[3])))]),
                 base[5])]
    keys = {engine_cache_key(*v) for v in variants} | {engine_cache_key(*base, strongly_typed=True)}
    assert key not in keys and len(keys) == len(variants) + 1


def test_engine_info_manifest_entry(tmp_path):
    info = EngineInfo(str(tmp_path / "k.engine"), "k", "fp16", parse_profiles([dict(input_shapes=SHAPES)]),
                      "10.3.0", "Orin (sm_87)")
    entry = info.to_manifest(str(tmp_path))
    assert entry["file"] == "k.engine" and entry["cache_key"] == "k" and entry["tensorrt"] == "10.3.0"
    assert entry["profiles"] == [{"image": {"min": [1, 3, 8, 8], "opt": [2, 3, 8, 8], "max": [4, 3, 8, 8]}}]


def test_qdq_detection_and_int8_guard(tmp_path):
    plain, qdq = _onnx(tmp_path / "plain.onnx"), _onnx(tmp_path / "qdq.onnx", qdq=True)
    assert not onnx_has_qdq(plain) and onnx_has_qdq(qdq)
    with pytest.raises(ValueError, match="Q/DQ"):
        build_engine(plain, dict(common_config=dict(precision="int8"), model_inputs=[dict(input_shapes=SHAPES)]))


def test_build_errors_without_tensorrt(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_engine(str(tmp_path / "missing.onnx"), CONFIG)
    if _trt_usable():
        pytest.skip("TensorRT is installed: the missing-TensorRT path cannot be exercised")
    with pytest.raises(TensorRTNotAvailableError, match="TensorRT is not installed") as err:
        build_engine(_onnx(tmp_path / "m.onnx"), CONFIG, cache_dir=str(tmp_path / "cache"))
    assert isinstance(err.value, ImportError) and "OrtBackend" in str(err.value)


@pytest.mark.tensorrt
@requires_trt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_and_cache(tmp_path, precision):
    onnx_path = _onnx(tmp_path / "m.onnx")
    config = dict(CONFIG, common_config=dict(precision=precision))
    timing = str(tmp_path / "timing.cache")
    info = build_engine(onnx_path, config, cache_dir=str(tmp_path / "cache"), timing_cache=timing)
    assert not info.cached and info.path.endswith(f"{info.key}.engine") and (tmp_path / "timing.cache").is_file()
    again = build_engine(onnx_path, config, cache_dir=str(tmp_path / "cache"), timing_cache=timing)
    assert again.cached and again.key == info.key

    from gen3d.runtime.trt_backend import TrtBackend

    backend = TrtBackend(info.path)
    x = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    out = backend.run({"image": x})["out"]
    np.testing.assert_allclose(out, np.maximum(x, 0), atol=1e-3 if precision == "fp16" else 1e-6)
