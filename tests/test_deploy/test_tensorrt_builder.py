"""TensorRT builder: pure-Python parts and the per-version API use (stand-in ``tensorrt`` 10 and 11 modules) on CPU;
a real build behind the ``tensorrt`` marker."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from gen3d.deploy.fp16_convert import Fp16ConverterNotAvailableError
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
from tests.helpers.fake_tensorrt import installed, make_tensorrt


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
    assert settings.precision == "fp16" and settings.workspace == 256 << 20 and settings.strongly_typed is None
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
    keys = {engine_cache_key(*v) for v in variants} | {engine_cache_key(*base, strongly_typed=True),
                                                        engine_cache_key(*base, workspace=DEFAULT_WORKSPACE * 2)}
    assert key not in keys and len(keys) == len(variants) + 2
    assert engine_cache_key(*base, workspace=DEFAULT_WORKSPACE) == key


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


@pytest.fixture
def fake_gpu(monkeypatch):
    """No CUDA here: the builder's device query answers a fixed Orin."""
    import gen3d.deploy.tensorrt_builder as builder

    monkeypatch.setattr(builder, "cuda_device_identity", lambda device=0: ("Orin", (8, 7)))


def _names(trt, call):
    return [args for name, args in trt.calls if name == call]


def test_stand_ins_offer_exactly_their_version():
    ten, eleven = make_tensorrt("10.3.0"), make_tensorrt("11.4.0")
    for flag in ("FP16", "INT8", "BF16", "OBEY_PRECISION_CONSTRAINTS"):
        assert isinstance(getattr(ten.BuilderFlag, flag), int)
        with pytest.raises(AttributeError, match=f"no attribute '{flag}'"):
            getattr(eleven.BuilderFlag, flag)
    assert eleven.BuilderFlag.TF32 is not None and eleven.NetworkDefinitionCreationFlag.STRONGLY_TYPED == 0
    with pytest.raises(AttributeError):
        eleven.NetworkDefinitionCreationFlag.EXPLICIT_BATCH  # noqa: B018
    assert not hasattr(eleven.Builder, "platform_has_fast_fp16") and hasattr(ten.Builder, "platform_has_fast_fp16")


def _build(tmp_path, version, common, qdq=False, **kwargs):
    onnx_path = _onnx(tmp_path / ("q.onnx" if qdq else "m.onnx"), qdq=qdq)
    config = dict(type="tensorrt", common_config=common, model_inputs=[dict(input_shapes=SHAPES)])
    with installed(make_tensorrt(version, **kwargs)) as trt:
        info = build_engine(onnx_path, config, cache_dir=str(tmp_path / "cache"),
                            timing_cache=str(tmp_path / "timing.cache"))
    return trt, info, onnx_path


def test_trt10_weak_fp16_sets_flags(tmp_path, fake_gpu):
    trt, info, onnx_path = _build(tmp_path, "10.3.0", dict(precision="fp16", max_workspace_size="256MiB"))
    assert _names(trt, "create_network") == [(0,)]  # EXPLICIT_BATCH is ignored on 10: never passed
    assert _names(trt, "set_flag") == [(trt.BuilderFlag.FP16,)]
    assert _names(trt, "set_memory_pool_limit") == [(trt.MemoryPoolType.WORKSPACE, 256 << 20)]
    assert _names(trt, "set_shape") == [("image", (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))]
    assert _names(trt, "parse_from_file") == [(onnx_path,)]
    assert not info.strongly_typed and info.built_from["fp16_conversion"] is None
    with open(info.path, "rb") as f:
        assert f.read() == b"stand-in TensorRT 10.3.0 plan"
    assert (tmp_path / "timing.cache").read_bytes() == b"stand-in timing cache+"
    entry = info.to_manifest(str(tmp_path / "cache"))
    assert entry["workspace"] == 256 << 20 and entry["timing_cache"].endswith("timing.cache")


def test_trt10_int8_weak_flags(tmp_path, fake_gpu):
    trt, info, _ = _build(tmp_path, "10.3.0", dict(precision="int8"), qdq=True)
    assert _names(trt, "set_flag") == [(trt.BuilderFlag.FP16,), (trt.BuilderFlag.INT8,)]


def test_trt10_strongly_typed_fp16_builds_the_converted_file(tmp_path, fake_gpu):
    trt, info, onnx_path = _build(tmp_path, "10.3.0", dict(precision="fp16", strongly_typed=True))
    assert _names(trt, "create_network") == [(1 << trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED,)]
    assert _names(trt, "set_flag") == []
    parsed = _names(trt, "parse_from_file")[0][0]
    assert parsed.endswith("m_fp16.onnx") and parsed != onnx_path and info.strongly_typed
    assert info.built_from["fp16_conversion"]["keep_io_types"] is True


@pytest.mark.parametrize("precision, qdq", [("fp32", False), ("fp16", False), ("int8", True)])
def test_trt11_is_strongly_typed_without_weak_api(tmp_path, fake_gpu, precision, qdq):
    # strongly_typed=False as in the TensorRT 10 deploy configs: ignored on 11, never a BuilderFlag.FP16/INT8 call
    trt, info, onnx_path = _build(tmp_path, "11.4.0", dict(precision=precision, strongly_typed=False), qdq=qdq)
    assert info.strongly_typed and _names(trt, "set_flag") == [] and _names(trt, "create_network") == [(0,)]
    parsed = _names(trt, "parse_from_file")[0][0]
    assert parsed.endswith("_fp16.onnx") if precision == "fp16" else parsed == onnx_path
    assert _names(trt, "build_serialized_network") == [([],)]


def test_trt11_fp16_without_converter_says_what_to_install(tmp_path, fake_gpu, monkeypatch):
    import gen3d.deploy.fp16_convert as fp16

    monkeypatch.setattr(fp16, "available_converters", lambda: [])
    with pytest.raises(Fp16ConverterNotAvailableError, match="onnxconverter-common") as err:
        _build(tmp_path, "11.4.0", dict(precision="fp16"))
    assert isinstance(err.value, ImportError) and "nvidia-modelopt" in str(err.value)


def test_cache_reuse_and_workspace_in_key(tmp_path, fake_gpu):
    _, first, _ = _build(tmp_path, "10.3.0", dict(precision="fp16", max_workspace_size="256MiB"))
    trt, again, _ = _build(tmp_path, "10.3.0", dict(precision="fp16", max_workspace_size="256MiB"))
    assert again.cached and again.key == first.key and _names(trt, "build_serialized_network") == []
    assert _names(trt, "create_timing_cache") == []  # nothing built: the timing cache is untouched
    _, bigger, _ = _build(tmp_path, "10.3.0", dict(precision="fp16", max_workspace_size="512MiB"))
    _, eleven, _ = _build(tmp_path, "11.4.0", dict(precision="fp16", max_workspace_size="256MiB"))
    assert not bigger.cached and len({first.key, bigger.key, eleven.key}) == 3


def test_timing_cache_is_loaded_when_present(tmp_path, fake_gpu):
    (tmp_path / "timing.cache").write_bytes(b"old")
    trt, _, _ = _build(tmp_path, "11.4.0", dict(precision="fp32"))
    assert _names(trt, "create_timing_cache") == [(b"old",)] and _names(trt, "set_timing_cache") == [(False,)]
    assert (tmp_path / "timing.cache").read_bytes() == b"old+"


def test_parse_and_build_failures_are_clear(tmp_path, fake_gpu):
    from gen3d.deploy.tensorrt_builder import TensorRTBuildError

    with pytest.raises(TensorRTBuildError, match="(?s)cannot parse.*stand-in parse failure"):
        _build(tmp_path, "10.3.0", dict(precision="fp32"), parse_ok=False)
    with pytest.raises(TensorRTBuildError, match="failed to build"):
        _build(tmp_path, "11.4.0", dict(precision="fp32"), build_ok=False)
    config = dict(type="tensorrt", common_config=dict(precision="fp32"))
    with installed(make_tensorrt("10.3.0")), pytest.raises(TensorRTBuildError, match="dynamic axes"):
        build_engine(_onnx(tmp_path / "d.onnx"), config, cache_dir=str(tmp_path / "c2"))


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


FAKE_CUDART_C = r"""
#include <stdlib.h>
#include <string.h>
typedef struct { char name[256]; int rest[512]; } prop_t;
int cudaMalloc(void **p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
int cudaFree(void *p) { free(p); return 0; }
int cudaMemcpyAsync(void *d, const void *s, size_t n, int kind, void *st) { if (kind < 1 || kind > 2) return 21;
                                                                            memcpy(d, s, n); return 0; }
int cudaStreamCreate(void **s) { *s = malloc(1); return 0; }
int cudaStreamSynchronize(void *s) { return s ? 0 : 400; }
int cudaStreamDestroy(void *s) { free(s); return 0; }
int cudaGetDeviceProperties_v2(prop_t *p, int dev) { if (dev) return 101; strcpy(p->name, "Fake Orin"); return 0; }
int cudaDeviceGetAttribute(int *v, int attr, int dev) { *v = attr == 75 ? 8 : attr == 76 ? 7 : -1; return 0; }
"""


@pytest.fixture(scope="module")
def fake_libcudart(tmp_path_factory):
    """A host-memory libcudart.so with the C signatures of the calls the ctypes binding makes."""
    import shutil
    import subprocess

    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler to build the stand-in libcudart")
    folder = tmp_path_factory.mktemp("cudart")
    (folder / "fake.c").write_text(FAKE_CUDART_C)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(folder / "libcudart.so"), str(folder / "fake.c")],
                   check=True)
    return str(folder / "libcudart.so")


def _fake_cuda_bindings(monkeypatch, driver, built):
    import sys
    import types

    runtime = types.SimpleNamespace(cudaDriverGetVersion=lambda: (0, driver), cudaRuntimeGetVersion=lambda: (0, built))
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    return runtime


def test_cudart_falls_back_to_ctypes_on_an_older_driver(monkeypatch, fake_libcudart):
    from gen3d.deploy.tensorrt_builder import cuda_device_identity
    from gen3d.runtime.trt_backend import _DeviceBuffer, cuda_check, import_cudart

    _fake_cuda_bindings(monkeypatch, driver=12060, built=13000)  # JetPack 6 driver, cuda-bindings 13
    monkeypatch.setenv("GEN3D_CUDART", fake_libcudart)
    monkeypatch.delenv("GEN3D_CUDA_BINDING", raising=False)
    cudart = import_cudart()
    assert type(cudart).__name__ == "_CtypesCudart" and cudart.path == fake_libcudart
    assert cuda_device_identity() == ("Fake Orin", (8, 7))
    stream = cuda_check(cudart, cudart.cudaStreamCreate(), "stream")
    host, back = np.arange(10, dtype=np.float32), np.zeros(10, np.float32)
    buffer = _DeviceBuffer(cudart)
    ptr = buffer.ensure(host.nbytes)
    kind = cudart.cudaMemcpyKind
    cuda_check(cudart, cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind.cudaMemcpyHostToDevice,
                                              stream), "h2d")
    cuda_check(cudart, cudart.cudaMemcpyAsync(back.ctypes.data, ptr, host.nbytes, kind.cudaMemcpyDeviceToHost,
                                              stream), "d2h")
    cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "sync")
    np.testing.assert_array_equal(back, host)
    buffer.free()
    from gen3d.runtime.trt_backend import TrtEngineError

    with pytest.raises(TrtEngineError, match="cudaGetDeviceProperties: 101"):
        cuda_check(cudart, cudart.cudaGetDeviceProperties(1), "cudaGetDeviceProperties")


def test_cudart_prefers_cuda_bindings_when_the_driver_fits(monkeypatch, fake_libcudart):
    from gen3d.runtime.trt_backend import import_cudart

    runtime = _fake_cuda_bindings(monkeypatch, driver=13000, built=13050)  # minor versions are compatible
    monkeypatch.setenv("GEN3D_CUDART", fake_libcudart)
    assert import_cudart() is runtime
    monkeypatch.setenv("GEN3D_CUDA_BINDING", "ctypes")
    assert type(import_cudart()).__name__ == "_CtypesCudart"


def test_cudart_errors_say_why(monkeypatch):
    import gen3d.runtime.trt_backend as backend

    _fake_cuda_bindings(monkeypatch, driver=12060, built=13000)
    monkeypatch.setenv("GEN3D_CUDA_BINDING", "cuda-bindings")
    with pytest.raises(TensorRTNotAvailableError, match=r"built for CUDA 13\.0, the driver supports CUDA 12\.x"):
        backend.import_cudart()
    monkeypatch.delenv("GEN3D_CUDA_BINDING")
    monkeypatch.setattr(backend, "_cudart_candidates", lambda: [])
    with pytest.raises(TensorRTNotAvailableError, match="no libcudart.so found") as err:
        backend.import_cudart()
    assert "cuda-bindings>=12.6,<13" in str(err.value) and "OrtBackend" in str(err.value)


def test_fp16_source_of_an_engine_is_sealed_in_the_manifest(tmp_path, fake_gpu):
    """The fp16 copy an engine was parsed from is a named, hashed bundle file: changing it fails verification."""
    from gen3d.deploy.bundle_common import engine_source_entry
    from gen3d.runtime.manifest import ManifestError, load_manifest, write_manifest

    _, info, onnx_path = _build(tmp_path, "11.0.0", dict(precision="fp16"))
    bundle = tmp_path / "cache"
    entry = info.to_manifest(str(bundle))
    (bundle / "m.onnx").write_bytes(open(onnx_path, "rb").read())
    extra = engine_source_entry(entry, str(bundle / "m.onnx"), str(bundle))
    assert extra["onnx_fp16"]["file"].endswith("m_fp16.onnx")
    fp32 = dict(entry, built_from={"file": "m.onnx"})
    assert engine_source_entry(fp32, str(bundle / "m.onnx"), str(bundle)) == {}
    assert engine_source_entry(None, str(bundle / "m.onnx"), str(bundle)) == {}
    minimal = {"format": "gen3d-bundle", "format_version": 1, "task": "anomaly", "mode": "end2end", "model": {},
               "onnx": {"file": "m.onnx"}, "inputs": [{"name": "image"}], "outputs": [{"name": "pred_score"}],
               "versions": {}, "engine": None}
    write_manifest(str(bundle), {**minimal, **extra})
    load_manifest(str(bundle))
    with open(bundle / extra["onnx_fp16"]["file"], "ab") as f:
        f.write(b"changed")
    with pytest.raises(ManifestError, match="onnx_fp16.sha256"):
        load_manifest(str(bundle))
