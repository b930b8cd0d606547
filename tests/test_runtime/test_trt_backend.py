"""TrtBackend: import and error paths on CPU; running an engine behind the ``tensorrt`` marker."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gen3d.runtime.backend import manifest_defaults
from gen3d.runtime.trt_backend import (
    TensorRTNotAvailableError,
    TrtBackend,
    TrtEngineError,
    check_shape_in_profile,
    coerce_feed,
)


def _trt_usable() -> bool:
    try:
        import tensorrt

        return hasattr(tensorrt, "Runtime")
    except Exception:
        return False


requires_trt = pytest.mark.skipif(not _trt_usable(), reason="TensorRT is not installed")


def test_module_imports_without_tensorrt_or_torch():
    code = ("import sys; import gen3d.runtime.trt_backend; "
            "assert 'tensorrt' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_engine_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="build it on this device"):
        TrtBackend(str(tmp_path / "nope.engine"))


@pytest.mark.skipif(_trt_usable(), reason="TensorRT is installed: the missing-TensorRT path cannot be exercised")
def test_without_tensorrt_raises_import_error(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not an engine")
    with pytest.raises(ImportError) as err:
        TrtBackend(str(engine))
    assert isinstance(err.value, TensorRTNotAvailableError)
    assert "TensorRT is not installed" in str(err.value) and "OrtBackend" in str(err.value)


def test_profile_check_names_input_and_range():
    check_shape_in_profile("image", (2, 224, 224, 3), (1, 224, 224, 3), (8, 224, 224, 3))
    with pytest.raises(TrtEngineError, match=r"'image'.*\(16, 224, 224, 3\).*min \(1, 224, 224, 3\) .. max \(8,"):
        check_shape_in_profile("image", (16, 224, 224, 3), (1, 224, 224, 3), (8, 224, 224, 3))
    with pytest.raises(TrtEngineError):
        check_shape_in_profile("image", (1, 224, 224), (1, 224, 224, 3), (8, 224, 224, 3))


def test_coerce_feed():
    out = coerce_feed("k", np.array([1, 2], np.int64), np.int32)
    assert out.dtype == np.int32 and out.flags.c_contiguous
    assert coerce_feed("x", np.ones((2, 3), np.float64).T, np.float32).flags.c_contiguous
    with pytest.raises(TypeError, match="do not fit"):
        coerce_feed("k", np.array([2**40]), np.int32)
    with pytest.raises(TypeError, match="expects uint8"):
        coerce_feed("img", np.zeros(3, np.float32), np.uint8)


def test_manifest_defaults():
    manifest = {"inputs": [{"name": "image", "dtype": "uint8"},
                           {"name": "image_threshold", "dtype": "float32", "shape": [2], "default": [0.5, 0.7]}]}
    defaults = manifest_defaults(manifest)
    assert list(defaults) == ["image_threshold"] and defaults["image_threshold"].dtype == np.float32
    assert manifest_defaults(None) == {}


@pytest.mark.tensorrt
@requires_trt
def test_version_mismatch_is_clear(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00" * 64)
    with pytest.raises(TrtEngineError, match="rebuild it on the target"):
        TrtBackend(str(engine))


@pytest.mark.tensorrt
@requires_trt
def test_run_defaults_and_profile_errors(tmp_path):
    from onnx import TensorProto, helper, save

    from gen3d.deploy.tensorrt_builder import build_engine

    graph = helper.make_graph(
        [helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("Sub", ["f", "thr"], ["out"])], "g",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["b", 4]),
         helper.make_tensor_value_info("thr", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", 4])])
    path = str(tmp_path / "m.onnx")
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    shapes = dict(image=dict(min_shape=[1, 4], opt_shape=[2, 4], max_shape=[4, 4]))
    info = build_engine(path, dict(model_inputs=[dict(input_shapes=shapes)]), cache_dir=str(tmp_path))
    manifest = {"inputs": [{"name": "image"}, {"name": "thr", "dtype": "float32", "default": [1.0]}]}
    backend = TrtBackend(info.path, manifest)
    assert backend.input_names == ["image", "thr"] and backend.output_names == ["out"]
    for batch in (1, 4, 2):  # buffers grow and are re-used
        image = np.arange(batch * 4, dtype=np.uint8).reshape(batch, 4)
        np.testing.assert_allclose(backend.run({"image": image})["out"], image.astype(np.float32) - 1.0)
    with pytest.raises(KeyError, match="no input"):  # never dropped without a word
        backend.run({"image": np.zeros((1, 4), np.uint8), "image_threshold": np.ones(2, np.float32)})
    with pytest.raises(TrtEngineError, match=r"'image'.*outside the engine's optimisation profile"):
        backend.run({"image": np.zeros((8, 4), np.uint8)})
