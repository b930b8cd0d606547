"""Triton model repositories from bundles: config.pbtxt parsed with tritonclient's ModelConfig schema, checked against
the ONNX file and against the load-time rules of Triton's onnxruntime backend (no server here)."""

import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from gen3d.deploy.triton import TritonOptions, build_config, to_pbtxt, write_triton_repo
from gen3d.runtime.manifest import ManifestError, load_manifest, sha256_file, write_manifest
from tests.conftest import run_tool
from tests.test_runtime.bundle_helpers import edit_manifest, end2end_graph, make_bundle

try:  # `pip install 'tritonclient[grpc]'` (the dev extra); without it the checks below run on the built dict
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2
except ImportError:  # pragma: no cover - depends on the environment
    model_config_pb2 = None
needs_tritonclient = pytest.mark.skipif(model_config_pb2 is None, reason="tritonclient[grpc] is not installed")
ONNX_TYPES = {"tensor(float)": "TYPE_FP32", "tensor(uint8)": "TYPE_UINT8", "tensor(int64)": "TYPE_INT64"}
TRITON_TYPES = {TensorProto.FLOAT: "TYPE_FP32", TensorProto.UINT8: "TYPE_UINT8", TensorProto.INT64: "TYPE_INT64"}
SEG_CLASSES = ["background", "scratch", "dent"]


def view(result: dict) -> dict:
    """The written config.pbtxt as plain values: parsed into ModelConfig when tritonclient is installed."""
    if model_config_pb2 is None:
        cfg, db = result["config"], result["config"].get("dynamic_batching")
        return {**cfg, "input": [dict(t, reshape=t.get("reshape", {}).get("shape")) for t in cfg["input"]],
                "output": [dict(t, reshape=t.get("reshape", {}).get("shape")) for t in cfg["output"]],
                "dynamic_batching": db and {"preferred_batch_size": [], **db}}
    with open(result["config_path"]) as f:
        msg = text_format.Parse(f.read(), model_config_pb2.ModelConfig())
    dtype = model_config_pb2.DataType.Name

    def tensor(t) -> dict:  # noqa: ANN001
        out = {"name": t.name, "data_type": dtype(t.data_type), "dims": list(t.dims),
               "reshape": list(t.reshape.shape) if t.HasField("reshape") else None}
        for key in ("optional", "label_filename"):  # ModelInput has optional, ModelOutput label_filename
            if key in t.DESCRIPTOR.fields_by_name:
                out[key] = getattr(t, key)
        return out

    kind = model_config_pb2.ModelInstanceGroup.Kind.Name
    return {"name": msg.name, "platform": msg.platform, "backend": msg.backend, "max_batch_size": msg.max_batch_size,
            "input": [tensor(t) for t in msg.input], "output": [tensor(t) for t in msg.output],
            "dynamic_batching": ({"preferred_batch_size": list(msg.dynamic_batching.preferred_batch_size),
                                  "max_queue_delay_microseconds": msg.dynamic_batching.max_queue_delay_microseconds}
                                 if msg.HasField("dynamic_batching") else None),
            "instance_group": [{"count": g.count, "kind": kind(g.kind)} for g in msg.instance_group],
            "optimization": ({"graph": {"level": msg.optimization.graph.level}}
                             if msg.optimization.HasField("graph") else None),
            "parameters": {k: v.string_value for k, v in msg.parameters.items()}}


def _compatible(model: list[int], config: list[int]) -> bool:
    return len(model) == len(config) and all(m == -1 or m == c for m, c in zip(model, config))


def ort_backend_load_check(cfg: dict, onnx_path: str) -> None:
    """The checks Triton's onnxruntime backend makes when it loads a model (src/onnxruntime.cc, ValidateInputs /
    ValidateOutputs): input count minus optional ones == the graph's required inputs, optional inputs only with
    max_batch_size 0, names, dtypes, and dims ([-1] + dims, or reshape, against the graph shape)."""
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    required = {i.name: i for i in sess.get_inputs()}
    overridable = {i.name: i for i in sess.get_overridable_initializers()}
    mbs = cfg["max_batch_size"]
    listed = [t for t in cfg["input"] if not t.get("optional")]
    assert len(listed) == len(required), f"configuration expects {len(listed)} inputs, model provides {len(required)}"
    graph = {**required, **overridable}
    for kind, tensors, infos in (("input", cfg["input"], graph), ("output", cfg["output"],
                                                                  {o.name: o for o in sess.get_outputs()})):
        for t in tensors:
            assert not (t.get("optional") and mbs > 0), f"optional input {t['name']} with max_batch_size {mbs}"
            info = infos[t["name"]]
            assert ONNX_TYPES[info.type] == t["data_type"], (kind, t["name"], info.type, t["data_type"])
            shape = [d if isinstance(d, int) and d > 0 else -1 for d in info.shape]
            want = t["reshape"] if t.get("reshape") is not None else t["dims"]
            if mbs > 0:
                assert shape[0] == -1, f"{t['name']}: model has no batch dimension {shape}"
                shape = shape[1:]
            assert _compatible(shape, list(want)), f"{kind} {t['name']}: model {shape}, config {want}"


def assert_matches_onnx(cfg: dict, onnx_path: str, omitted: tuple = ()) -> None:
    """Names, dtypes and dims of the config against onnx.load of the served file (batch axis left out when batching)."""
    graph = onnx.load(onnx_path).graph
    inits = {i.name for i in graph.initializer}
    for tensors, values in ((cfg["input"], [v for v in graph.input if v.name not in omitted]), (cfg["output"],
                                                                                                 graph.output)):
        assert [t["name"] for t in tensors] == [v.name for v in values]
        for t, v in zip(tensors, values):
            assert t["data_type"] == TRITON_TYPES[v.type.tensor_type.elem_type], t["name"]
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
            dims = dims[1:] if cfg["max_batch_size"] > 0 else dims
            shown = t["reshape"] if t.get("reshape") is not None else t["dims"]
            assert _compatible(dims, list(shown)), (t["name"], dims, shown)
            assert bool(t.get("optional")) == (v.name in inits), t["name"]


def _static_batch_bundle(path, batch: int = 2) -> str:
    make_bundle(path)
    end2end_graph(str(path / "model.onnx"), (16, 16), batch=batch)

    def edit(m: dict) -> None:
        for e in (*m["inputs"], *m["outputs"]):
            e["shape"] = [batch if s == "batch" else s for s in e["shape"]]
        m["onnx"]["sha256"] = sha256_file(str(path / "model.onnx"))

    edit_manifest(path, edit)
    return str(path)


def _seg_bundle(path) -> str:
    """A label-map segmentation bundle (the segmentation_bundle.py contract): label = argmax over RGB."""
    os.makedirs(path, exist_ok=True)
    nodes = [helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["x"], ["logits"], perm=[0, 3, 1, 2]),
             helper.make_node("ArgMax", ["logits"], ["arg"], axis=1, keepdims=0),
             helper.make_node("Cast", ["arg"], ["label_map"], to=TensorProto.UINT8)]
    graph = helper.make_graph(nodes, "fake_seg", [helper.make_tensor_value_info("image", TensorProto.UINT8,
                                                                                ["batch", 8, 8, 3])],
                              [helper.make_tensor_value_info("label_map", TensorProto.UINT8, ["batch", 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))
    write_manifest(str(path), {
        "format": "gen3d-bundle", "format_version": 1, "task": "segmentation", "mode": "end2end", "output": "label_map",
        "model": {"type": "U2PL", "classes": SEG_CLASSES, "num_classes": 3},
        "onnx": {"file": "model.onnx", "opset": 17}, "versions": {},
        "inputs": [{"name": "image", "dtype": "uint8", "shape": ["batch", 8, 8, 3]}],
        "outputs": [{"name": "label_map", "dtype": "uint8", "shape": ["batch", 8, 8], "classes": SEG_CLASSES}]})
    return str(path)


@pytest.fixture(scope="module")
def gan_bundle(tmp_path_factory):
    from tests.helpers.gan import make_tiny_gan_checkpoint
    from tests.test_runtime.bundle_helpers import build_generator_bundle

    root = tmp_path_factory.mktemp("gan")
    return build_generator_bundle(make_tiny_gan_checkpoint(root / "tiny.pth", c_dim=2), root / "bundle")


@needs_tritonclient
def test_pbtxt_is_the_built_config_in_the_model_config_schema(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    for i, opts in enumerate([TritonOptions(name="a"), TritonOptions(name="b", defaults="embed", kind="cpu",
                                                                      instances=2, preferred_batch=(2, 4),
                                                                      max_queue_delay_us=50)]):
        result = write_triton_repo(bundle, str(tmp_path / f"repo{i}"), opts)
        parsed, built = view(result), result["config"]
        assert parsed["name"] == opts.name and parsed["max_batch_size"] == built["max_batch_size"]
        for key in ("input", "output"):
            assert [(t["name"], t["data_type"], t["dims"]) for t in parsed[key]] == \
                [(t["name"], str(t["data_type"]), t["dims"]) for t in built[key]]
        assert parsed["parameters"] == built["parameters"]
    assert parsed["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]
    assert parsed["dynamic_batching"] == {"preferred_batch_size": [2, 4], "max_queue_delay_microseconds": 50}
    with pytest.raises(text_format.ParseError):  # the schema check is real: a misspelt field does not parse
        text_format.Parse(to_pbtxt({"max_batch_sise": 1}), model_config_pb2.ModelConfig())


def test_anomaly_end2end_default_config(tmp_path):
    bundle = make_bundle(tmp_path / "uniad")
    result = write_triton_repo(bundle, str(tmp_path / "repo"))
    cfg, served = view(result), os.path.join(result["model_dir"], "1", "model.onnx")
    assert result["files"] == ["1/model.onnx", "config.pbtxt"]
    assert cfg["name"] == "uniad" and cfg["platform"] == "onnxruntime_onnx" and cfg["backend"] == "onnxruntime"
    assert not os.path.islink(served) and sha256_file(served) == load_manifest(bundle)["onnx"]["sha256"]
    # the thresholds [C] have no batch axis: max_batch_size 0, full dims, -1 for the batch, required inputs
    assert cfg["max_batch_size"] == 0 and cfg["dynamic_batching"] is None
    dims = {t["name"]: t["dims"] for t in cfg["input"] + cfg["output"]}
    assert dims == {"image": [-1, 16, 16, 3], "class_index": [-1], "image_threshold": [2], "pixel_threshold": [2],
                    "pred_score": [-1], "pred_label": [-1], "anomaly_map": [-1, 16, 16], "pred_mask": [-1, 16, 16]}
    assert not any(t.get("optional") for t in cfg["input"])
    assert_matches_onnx(cfg, served)
    ort_backend_load_check(cfg, served)
    params = cfg["parameters"]
    assert json.loads(params["gen3d.classes"]) == ["bottle", "cable"]
    assert json.loads(params["gen3d.default.image_threshold"]) == [0.5, 0.6]
    assert json.loads(params["gen3d.thresholds"])["cable"] == {"image": 0.6, "pixel": 0.6}
    assert params["gen3d.model_sha256"] == sha256_file(served)
    # marking the un-initialised thresholds optional would not load (count rule of the onnxruntime backend)
    broken = dict(cfg, input=[dict(t, optional=t["name"].endswith("threshold")) for t in cfg["input"]])
    with pytest.raises(AssertionError, match="configuration expects 2 inputs, model provides 4"):
        ort_backend_load_check(broken, served)


def test_embedded_defaults_batch_and_keep_the_manifest_thresholds(tmp_path):
    bundle = make_bundle(tmp_path / "uniad")
    result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(defaults="embed"))
    cfg, served = view(result), os.path.join(result["model_dir"], "1", "model.onnx")
    assert cfg["max_batch_size"] == 8
    assert cfg["dynamic_batching"] == {"preferred_batch_size": [], "max_queue_delay_microseconds": 0}
    assert [t["name"] for t in cfg["input"]] == ["image", "class_index"]
    by = {t["name"]: t for t in cfg["input"] + cfg["output"]}
    assert by["class_index"]["dims"] == [1] and by["class_index"]["reshape"] == []  # [batch] alone
    assert by["image"]["dims"] == [16, 16, 3] and by["anomaly_map"]["dims"] == [16, 16]
    assert_matches_onnx(cfg, served, omitted=("image_threshold", "pixel_threshold"))
    ort_backend_load_check(cfg, served)
    # absent thresholds: ONNX Runtime takes the embedded manifest defaults, as the bundle runtime does
    rng = np.random.default_rng(0)
    feeds = {"image": rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8), "class_index": np.array([0, 1, 1])}
    defaults = {"image_threshold": np.array([0.5, 0.6], np.float32), "pixel_threshold": np.array([0.5, 0.6],
                                                                                                   np.float32)}
    ref = ort.InferenceSession(os.path.join(bundle, "model.onnx")).run(None, {**feeds, **defaults})
    got = ort.InferenceSession(served).run(None, feeds)
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)
    # unbatched, the embedded thresholds are optional inputs a request may still override
    result = write_triton_repo(bundle, str(tmp_path / "repo0"), TritonOptions(defaults="embed", max_batch=0))
    cfg0 = view(result)
    assert cfg0["max_batch_size"] == 0 and [t["name"] for t in cfg0["input"] if t.get("optional")] == [
        "image_threshold", "pixel_threshold"]
    ort_backend_load_check(cfg0, os.path.join(result["model_dir"], "1", "model.onnx"))


@needs_tritonclient
def test_full_range_int8_runs_as_written_on_the_onnxruntime_backend(tmp_path):
    """A full-range int8 file (or one whose manifest does not say) gets graph level -1 (ORT_ENABLE_BASIC), which the
    fused int8 kernels of x86 CPUs without VNNI would compute wrong; 7-bit weights and fp32 files keep the default;
    --int8-kernels overrides; the TensorRT backend never gets it."""
    bundle = make_bundle(tmp_path / "b")

    def level(quantization: dict | None, precision: str = "int8-qdq", **opts) -> int | None:
        def edit(m: dict) -> None:
            m["onnx"]["precision"] = precision
            m["onnx"].pop("quantization", None)
            if quantization is not None:
                m["onnx"]["quantization"] = quantization

        edit_manifest(tmp_path / "b", edit)
        result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(overwrite=True, **opts))
        graph = (view(result).get("optimization") or {}).get("graph")  # parsed by the schema where installed
        if not opts:  # auto: the note says so
            assert (graph is not None) == any("level -1" in note for note in result["notes"])
        return None if graph is None else graph["level"]

    assert level(None) == -1  # an older bundle: full range
    assert level({"reduce_range": False}) == -1
    assert level({"reduce_range": True}) is None
    assert level(None, precision="fp32") is None
    assert level({"reduce_range": False}, int8_kernels="fused") is None
    assert level({"reduce_range": True}, int8_kernels="exact") == -1
    with pytest.raises(ValueError, match="--int8-kernels"):
        level(None, int8_kernels="fast")


def test_fixed_batch_graph_has_max_batch_size_0(tmp_path):
    bundle = _static_batch_bundle(tmp_path / "fixed")
    result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(defaults="embed"))
    cfg = view(result)
    assert cfg["max_batch_size"] == 0 and cfg["dynamic_batching"] is None
    assert {t["name"]: t["dims"] for t in cfg["input"]}["image"] == [2, 16, 16, 3]
    ort_backend_load_check(cfg, os.path.join(result["model_dir"], "1", "model.onnx"))
    with pytest.raises(ValueError, match="cannot batch"):
        write_triton_repo(bundle, str(tmp_path / "repo2"), TritonOptions(max_batch=4, defaults="embed"))


def test_raw_anomaly_bundle_batches(tmp_path):
    bundle = make_bundle(tmp_path / "raw", mode="raw")
    result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(max_batch=16, preferred_batch=(8,)))
    cfg, served = view(result), os.path.join(result["model_dir"], "1", "model.onnx")
    assert cfg["max_batch_size"] == 16
    assert [(t["name"], t["dims"], t["reshape"]) for t in cfg["input"] + cfg["output"]] == [
        ("input", [3, 16, 16], None), ("anomaly_map", [1, 16, 16], None), ("pred_score", [1], [])]
    assert json.loads(cfg["parameters"]["gen3d.preprocessing"])["std"] == [255, 255, 255]
    assert_matches_onnx(cfg, served)
    ort_backend_load_check(cfg, served)
    with pytest.raises(ValueError, match="preferred-batch"):
        write_triton_repo(bundle, str(tmp_path / "repo2"), TritonOptions(max_batch=4, preferred_batch=(8,)))


def test_segmentation_bundle_writes_labels(tmp_path):
    bundle = _seg_bundle(tmp_path / "seg")
    result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(name="u2pl"))
    cfg, served = view(result), os.path.join(result["model_dir"], "1", "model.onnx")
    assert result["files"] == ["1/model.onnx", "config.pbtxt", "labels.txt"]
    with open(os.path.join(result["model_dir"], "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == SEG_CLASSES  # line k names class k
    assert cfg["output"][0]["label_filename"] == "labels.txt" and cfg["max_batch_size"] == 8
    assert cfg["input"][0]["dims"] == [8, 8, 3] and cfg["output"][0]["dims"] == [8, 8]
    assert_matches_onnx(cfg, served)
    ort_backend_load_check(cfg, served)


def test_generator_bundle(gan_bundle, tmp_path):
    result = write_triton_repo(gan_bundle, str(tmp_path / "repo"), TritonOptions(name="stylegan2"))
    cfg = view(result)
    assert cfg["max_batch_size"] == 0  # truncation_psi [1] has no batch axis
    assert {t["name"]: t["dims"] for t in cfg["input"]} == {"z": [-1, 16], "c": [-1, 2], "truncation_psi": [1]}
    assert json.loads(cfg["parameters"]["gen3d.default.truncation_psi"]) == [1.0]
    ort_backend_load_check(cfg, os.path.join(result["model_dir"], "1", "model.onnx"))
    result = write_triton_repo(gan_bundle, str(tmp_path / "repo2"), TritonOptions(name="g", defaults="embed"))
    cfg, served = view(result), os.path.join(result["model_dir"], "1", "model.onnx")
    assert cfg["max_batch_size"] == 8 and {t["name"]: t["dims"] for t in cfg["input"]} == {"z": [16], "c": [2]}
    assert cfg["output"][0]["dims"] == [16, 16, 3] and cfg["output"][0]["data_type"] == "TYPE_UINT8"
    assert_matches_onnx(cfg, served, omitted=("truncation_psi",))
    ort_backend_load_check(cfg, served)
    feeds = {"z": np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32),
             "c": np.eye(2, dtype=np.float32)}
    ref = ort.InferenceSession(os.path.join(gan_bundle, "model.onnx")).run(
        None, {**feeds, "truncation_psi": np.array([1.0], np.float32)})[0]
    np.testing.assert_array_equal(ort.InferenceSession(served).run(None, feeds)[0], ref)


def test_tensorrt_plan_from_the_engine(tmp_path):
    path = tmp_path / "trt"
    path.mkdir()
    (path / "model.engine").write_bytes(b"not a real engine, copied as bytes")
    prof = {"input": {"min": [1, 3, 16, 16], "opt": [4, 3, 16, 16], "max": [16, 3, 16, 16]}}
    bundle = make_bundle(path, mode="raw", engine={"file": "model.engine", "precision": "fp16", "profiles": [prof],
                                                   "tensorrt": "10.3.0", "device": "Orin"})
    result = write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(backend="tensorrt"))
    cfg = view(result)
    assert cfg["platform"] == "tensorrt_plan" and cfg["backend"] == "tensorrt" and cfg["max_batch_size"] == 16
    assert cfg["instance_group"][0]["kind"] == "KIND_GPU" and result["files"] == ["1/model.plan", "config.pbtxt"]
    plan = os.path.join(result["model_dir"], "1", "model.plan")
    assert open(plan, "rb").read() == (path / "model.engine").read_bytes() and not os.path.islink(plan)
    assert_matches_onnx(cfg, os.path.join(bundle, "model.onnx"))
    with pytest.raises(ValueError, match="exceeds the engine"):
        write_triton_repo(bundle, str(tmp_path / "r2"), TritonOptions(backend="tensorrt", max_batch=32))
    with pytest.raises(ValueError, match="GPU instances only"):
        write_triton_repo(bundle, str(tmp_path / "r3"), TritonOptions(backend="tensorrt", kind="cpu"))
    with pytest.raises(ValueError, match="no TensorRT engine"):
        write_triton_repo(make_bundle(tmp_path / "plain"), str(tmp_path / "r4"), TritonOptions(backend="tensorrt"))


def test_tensorrt_8_int64_io_is_int32(tmp_path):
    path = tmp_path / "trt8"
    path.mkdir()
    (path / "model.engine").write_bytes(b"engine")
    bundle = make_bundle(path, engine={"file": "model.engine", "profiles": [], "tensorrt": "8.6.1"})
    cfg = view(write_triton_repo(bundle, str(tmp_path / "repo"), TritonOptions(backend="tensorrt")))
    assert {t["name"]: t["data_type"] for t in cfg["input"]}["class_index"] == "TYPE_INT32"


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "a b", "-x", "x" * 200])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="plain model folder name"):
        write_triton_repo(make_bundle(tmp_path / "b"), str(tmp_path / "repo"), TritonOptions(name=name))


def test_repository_rules(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    repo = tmp_path / "repo"
    (repo / "other").mkdir(parents=True)
    with pytest.raises(ValueError, match="not empty"):
        write_triton_repo(bundle, str(repo), TritonOptions(name="m"))
    write_triton_repo(bundle, str(repo), TritonOptions(name="m", overwrite=True))
    (repo / "m" / "stale.txt").write_text("x")
    write_triton_repo(bundle, str(repo), TritonOptions(name="m", overwrite=True))
    assert sorted(os.listdir(repo)) == ["m", "other"] and not (repo / "m" / "stale.txt").exists()
    edit_manifest(bundle, lambda m: m["thresholds"]["bottle"].update(image=0.01), seal=False)
    with pytest.raises(ManifestError, match="not verified"):
        write_triton_repo(bundle, str(tmp_path / "repo2"))


def test_dtype_mismatch_names_the_tensor(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    manifest = edit_manifest(bundle, lambda m: m["inputs"][0].update(dtype="float32"))
    with pytest.raises(ValueError, match="'image' is UINT8 in the graph but float32 in the manifest"):
        build_config(manifest, os.path.join(bundle, "model.onnx"), TritonOptions(name="x"))


def test_tool(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    out = run_tool("deploy_triton.py", bundle, "--repo", str(tmp_path / "repo"), "--name", "uniad", "--defaults",
                   "embed", "--kind", "cpu", "--instances", "2", "--max-queue-delay-us", "100")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "max_batch_size 8" in out.stdout and "class_index TYPE_INT64[1]" in out.stdout
    text = open(tmp_path / "repo" / "uniad" / "config.pbtxt").read()
    assert "kind: KIND_CPU" in text and "max_queue_delay_microseconds: 100" in text
    out = run_tool("deploy_triton.py", bundle, "--repo", str(tmp_path / "repo"))
    assert out.returncode == 2 and "--overwrite" in out.stderr
    shutil.rmtree(tmp_path / "repo")
