"""Deploy a tiny trained UniAD: export contract, ONNX Runtime parity, thresholds as inputs, raw mode, int8, tool."""

import os
import warnings

import numpy as np
import onnx
import pytest
import torch

from gen3d.apis.inference import init_model
from gen3d.deploy import (
    AnomalyEnd2End,
    ExportError,
    ParityError,
    backend_outputs,
    build_bundle,
    check_fp32_parity,
    export_onnx,
    load_eval_set,
    onnx_opset,
    ort_runner,
    simplify_onnx,
    torch_outputs,
)
from gen3d.deploy.anomaly_wrapper import END2END_INPUTS, END2END_OUTPUTS
from gen3d.runtime.backend import make_backend
from gen3d.runtime.hardware import cpu_saturates_u8s8
from gen3d.runtime.manifest import load_manifest, sha256_file
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.anomaly_data import CLASSES

pytestmark = pytest.mark.slow
TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")
DEPLOY = REPO_ROOT / "deploy"
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@pytest.fixture(scope="module")
def trained(trained_tiny_uniad):
    root, work = trained_tiny_uniad  # shared with the tools tests: read-only
    return root, work / "epoch_2.pth"


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    """The fp32 dynamic-batch bundle written by tools/deploy.py (end to end)."""
    root, ckpt = trained
    out_dir = tmp_path_factory.mktemp("bundle")
    out = run_tool("deploy.py", str(DEPLOY / "anomaly_onnxruntime-fp32_dynamic-batch.py"), TINY, str(ckpt),
                   "--work-dir", str(out_dir), "--data-root", str(root))
    assert out.returncode == 0, out.stderr[-4000:]
    assert "parity fp32" in out.stdout
    return out_dir


@pytest.fixture(scope="module")
def model_and_data(trained):
    root, ckpt = trained
    model = init_model(str(ckpt), TINY)
    from gen3d.utils.config import apply_data_root

    apply_data_root(model.cfg, str(root))
    data = load_eval_set(model.cfg, list(model.thresholds), model.input_size, max_images=16)
    return model, data


def test_gate_set_tops_up_a_small_validation_split_with_training_normals(model_and_data, bundle):
    """The gates' normals: the validation split first, then training good images it does not hold, never the test
    split; the manifest records how many came from each."""
    from gen3d.deploy.parity.anomaly import _split_infos

    model, val_only = model_and_data
    classes = list(model.thresholds)
    n_val, n_train = (len(_split_infos(model.cfg, s, classes)) for s in ("val", "train"))
    assert val_only.normals_from == {"val": n_val} and len(val_only.labels) == 2 * n_val
    full = load_eval_set(model.cfg, classes, model.input_size, max_images=n_val + n_train + 5, top_up_split="train")
    assert full.normals_from == {"val": n_val, "train": n_train}
    assert len(full.labels) == 2 * (n_val + n_train) and full.labels.sum() == n_val + n_train
    assert np.array_equal(full.images[: 2 * n_val], val_only.images)  # the validation images first, unchanged
    some = load_eval_set(model.cfg, classes, model.input_size, max_images=n_val + 3, top_up_split="train")
    assert some.normals_from == {"val": n_val, "train": 3}
    assert load_manifest(str(bundle))["parity"]["normals_from"] == {"val": n_val, "train": min(n_train, 128 - n_val)}


def test_gate_set_warns_when_the_top_up_split_cannot_be_read(model_and_data, monkeypatch):
    """A training split that cannot be read leaves the gate on the validation images, with a warning that says so."""
    from gen3d.deploy.parity import anomaly as parity

    model, val_only = model_and_data
    read = parity._split_infos

    def no_train(cfg, split, classes):  # noqa: ANN001, ANN202
        if split == "train":
            raise FileNotFoundError("train/good is gone")
        return read(cfg, split, classes)

    monkeypatch.setattr(parity, "_split_infos", no_train)
    with pytest.warns(UserWarning, match=r"train split could not be read .*train/good is gone"):
        alone = load_eval_set(model.cfg, list(model.thresholds), model.input_size, max_images=64, top_up_split="train")
    assert alone.normals_from == val_only.normals_from and np.array_equal(alone.images, val_only.images)


def test_tool_bundle_manifest_and_file_contract(bundle, trained):
    manifest = load_manifest(str(bundle))  # validates keys and the ONNX sha256
    path = str(bundle / "model.onnx")
    assert manifest["onnx"]["sha256"] == sha256_file(path)
    assert manifest["model"]["checkpoint_sha256"] == sha256_file(str(trained[1]))
    assert manifest["model"]["classes"] == list(CLASSES)
    assert onnx_opset(path) == manifest["onnx"]["opset"] == 17
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == list(END2END_INPUTS)
    assert [o.name for o in proto.graph.output] == list(END2END_OUTPUTS)
    # real inputs, defaults in the manifest only: onnx-tensorrt would fold an initializer default into a constant
    assert not {i.name for i in proto.graph.initializer} & {"image_threshold", "pixel_threshold"}
    for init in proto.graph.initializer:  # no -inf attention mask reaches the graph (fp16-safe)
        arr = onnx.numpy_helper.to_array(init)
        if arr.dtype.kind == "f":
            assert np.isfinite(arr).all(), init.name
    defaults = {e["name"]: e["default"] for e in manifest["inputs"] if "default" in e}
    assert set(defaults) == {"image_threshold", "pixel_threshold"}
    assert manifest["parity"]["max_abs_diff_anomaly_map"] <= 1e-4 and manifest["parity"]["label_flips"] == 0
    assert manifest["engine"] is None and manifest["engine_note"]


@pytest.mark.parametrize("batch", [1, 3])
def test_end2end_parity_dynamic_batch(bundle, model_and_data, batch):
    model, data = model_and_data
    run = ort_runner(str(bundle / "model.onnx"))
    thresholds = AnomalyEnd2End(model, list(model.thresholds)).default_thresholds(model.thresholds)
    ref = torch_outputs(model, data, tuple(t.numpy() for t in thresholds), batch_size=batch)
    defaults = dict(zip(("image_threshold", "pixel_threshold"), (t.numpy() for t in thresholds)))
    out = backend_outputs(run, data, batch_size=batch, extra=defaults)
    result = check_fp32_parity(ref, out)
    assert result["max_abs_diff_anomaly_map"] <= 1e-4 and result["label_flips"] == 0
    assert out["anomaly_map"].shape == (len(data.images), *model.input_size)
    assert out["pred_label"].dtype == np.uint8 and out["pred_mask"].dtype == np.uint8
    assert set(np.unique(data.labels)) == {0, 1}  # validation normals + synthetic defects


def test_thresholds_are_runtime_inputs(bundle, model_and_data):
    model, data = model_and_data
    run = ort_runner(str(bundle / "model.onnx"))
    feeds = dict(image=data.images[:4], class_index=data.class_index[:4])
    manifest = load_manifest(str(bundle))
    given = {e["name"]: np.asarray(e["default"], np.float32) for e in manifest["inputs"] if "default" in e}
    default = run({**feeds, **given})
    with pytest.raises(Exception, match="image_threshold"):  # no value hidden in the graph
        run(feeds)
    low = run({**feeds, "image_threshold": np.full(2, 1e-3, np.float32), "pixel_threshold": np.full(2, 1e-3, "f4")})
    high = run({**feeds, "image_threshold": np.full(2, 1e6, np.float32), "pixel_threshold": np.full(2, 1e6, "f4")})
    assert low["pred_label"].all() and low["pred_mask"].all() and not high["pred_label"].any()
    np.testing.assert_allclose(low["raw_score"], default["raw_score"])
    np.testing.assert_allclose(default["pred_score"], np.clip(default["raw_score"] / (2 * given["image_threshold"][
        feeds["class_index"]]), 0, 1), rtol=1e-6)


def test_onnxslim_keeps_outputs_and_exporter_is_explicit(model_and_data, tmp_path):
    model, data = model_and_data
    wrapper = AnomalyEnd2End(model, list(model.thresholds))
    it, pt = wrapper.default_thresholds(model.thresholds)
    args = (torch.from_numpy(data.images[:2]), torch.from_numpy(data.class_index[:2]), it, pt)
    path = str(tmp_path / "m.onnx")
    export_onnx(wrapper, args, path, END2END_INPUTS, END2END_OUTPUTS)
    feeds = {k: a.numpy() for k, a in zip(END2END_INPUTS, args)}
    before = ort_runner(path)(feeds)
    n_before = len(onnx.load(path).graph.node)
    assert simplify_onnx(path, feeds)
    after = ort_runner(path)(feeds)
    assert len(onnx.load(path).graph.node) <= n_before and onnx_opset(path) == 17
    for name in before:
        np.testing.assert_allclose(before[name], after[name], atol=1e-5)
    with pytest.raises(ExportError, match="exporter"):
        export_onnx(wrapper, args, path, END2END_INPUTS, END2END_OUTPUTS, exporter="default")


def test_parity_gate_fails_loudly_on_corrupted_model(bundle, model_and_data, tmp_path):
    model, data = model_and_data
    proto = onnx.load(str(bundle / "model.onnx"))
    biggest = max((i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2),
                  key=lambda i: int(np.prod(i.dims)))
    arr = onnx.numpy_helper.to_array(biggest) * 1.5 + 0.05
    biggest.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), biggest.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    thresholds = AnomalyEnd2End(model, list(model.thresholds)).default_thresholds(model.thresholds)
    ref = torch_outputs(model, data, tuple(t.numpy() for t in thresholds))
    with pytest.raises(ParityError, match=r"max \|diff\| anomaly map .* \(gate 0.0001\)"):
        check_fp32_parity(ref, backend_outputs(ort_runner(str(bad)), data, extra=dict(
            image_threshold=thresholds[0].numpy(), pixel_threshold=thresholds[1].numpy())))


def test_raw_mode_bundle(trained, tmp_path):
    root, ckpt = trained
    manifest = build_bundle(str(DEPLOY / "anomaly_onnxruntime-fp32_raw.py"), TINY, str(ckpt), str(tmp_path),
                            data_root=str(root))
    assert manifest["mode"] == "raw" and manifest["preprocessing"]["in_graph"] is False
    assert manifest["parity"]["max_abs_diff_anomaly_map"] <= 1e-4
    model = init_model(str(ckpt), TINY)
    x = torch.randn(3, 3, *model.input_size)
    with torch.no_grad():
        ref_map, ref_score = model(x, mode="tensor")
    out = ort_runner(str(tmp_path / "model.onnx"))({"input": x.numpy()})
    assert np.abs(out["anomaly_map"] - ref_map.numpy()).max() <= 1e-4
    assert np.abs(out["pred_score"] - ref_score.numpy()).max() <= 1e-4
    load_manifest(str(tmp_path))


def test_int8_qdq_bundle_runs_and_passes_relaxed_task_gate(trained, tmp_path):
    """int8 Q/DQ on the tiny set. The gate is relaxed here: the tiny model (random backbone, 2 epochs) is evaluated on
    4 validation normals + 4 synthetic-defect copies, so AUROC moves in steps of 1/16, and its thresholds are the
    0.99 quantile of those same normals, which sit on the threshold; the production gate (0.005, identical labels)
    is the default of tools/deploy.py."""
    root, ckpt = trained
    config = tmp_path / "int8_calib_top_up.py"  # the shipped int8 config + calibration topped up from train/good
    config.write_text(f"_base_ = [{str(DEPLOY / 'anomaly_onnxruntime-int8_dynamic-batch.py')!r}]\n"
                      "backend_config = dict(calib_images=12, calib_top_up='train')\n")
    out = tmp_path / "bundle"
    manifest = build_bundle(str(config), TINY, str(ckpt), str(out), data_root=str(root), int8_label_agreement=0.5,
                            int8_auroc_drop=0.5)
    assert manifest["onnx"]["precision"] == "int8-qdq" and manifest["onnx_fp32"]["file"] == "model_fp32.onnx"
    calib = manifest["onnx"]["calibration"]  # the 4 validation normals, then training normals up to 12
    assert calib["normals_from"]["val"] == 4 and calib["images"] == sum(calib["normals_from"].values()) == 12
    gate = manifest["parity"]["int8"]
    assert gate["label_agreement"] >= 0.5 and gate["auroc_drop"] <= 0.5
    assert manifest["parity"]["fp32"]["max_abs_diff_anomaly_map"] <= 1e-4
    # 7-bit weights, recorded: the fused int8 kernels are right on every CPU, for the gate and the runtime
    assert manifest["onnx"]["quantization"] == {"reduce_range": True, "symmetric_activations": False}
    assert gate["onnxruntime_kernels"] == "fused int8"
    # Both gates ran on one set: recorded once, where deploy/README.md says (parity.normals_from).
    assert sum(manifest["parity"]["normals_from"].values()) >= 4
    assert "normals_from" not in manifest["parity"]["fp32"] and "normals_from" not in gate
    proto = onnx.load(str(out / "model.onnx"))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and onnx_opset(proto) == 17
    assert "MatMulIntegerToFloat" in ops  # the config fuses int8 MatMul + bias (quantization.fuse_matmul_bias)
    int8 = [onnx.numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8 and max(int(np.abs(w).max()) for w in int8) <= 64  # 7-bit weights: no U8S8 saturation without VNNI
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    run = make_backend("onnxruntime", str(out), load_manifest(str(out))).run  # manifest defaults
    res = run({"image": images, "class_index": np.array([0, 1, 0])})
    assert res["anomaly_map"].shape == (3, 64, 64) and np.isfinite(res["anomaly_map"]).all()
    load_manifest(str(out))


def test_tensorrt_int8_static_bundle_is_symmetric_qdq_and_lints_clean(trained, tmp_path):
    """The TensorRT int8 config: 224 px camera frames resized in-graph to the model's 64 px, symmetric Q/DQ
    (zero point 0), the op lint for TensorRT 8.6 and 10 finds no error; without TensorRT no engine is written and the
    manifest says why (same relaxed task gate as above, tiny set)."""
    from gen3d.deploy.trt_ops import format_lint_report, has_errors, lint_onnx_for_tensorrt

    root, ckpt = trained
    manifest = build_bundle(str(DEPLOY / "anomaly_tensorrt-int8_static-224.py"), TINY, str(ckpt), str(tmp_path),
                            data_root=str(root), int8_label_agreement=0.5, int8_auroc_drop=0.5)
    assert manifest["inputs"][0]["shape"] == [1, 224, 224, 3] and manifest["engine"] is None
    assert manifest["parity"]["fp32"]["max_abs_diff_anomaly_map"] <= 1e-4
    assert str(manifest["parity"]["tensorrt"]).startswith("not run")
    for name in ("model.onnx", "model_fp32.onnx"):
        proto = onnx.load(str(tmp_path / name))
        zero_points = [onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if i.name.endswith("zero_point")]
        assert all((z == 0).all() and z.dtype == np.int8 for z in zero_points)  # symmetric, float biases
        for version in ("8.6", "10"):
            issues = lint_onnx_for_tensorrt(proto, version, fp16=True)
            assert not has_errors(issues), format_lint_report(issues, version)
    # full-range weights (TensorRT accumulates in int32): on an x86 CPU without VNNI the gate and the runtime run the
    # Q/DQ pairs as written, since the fused kernels would saturate (deploy/README.md section 2)
    assert manifest["onnx"]["quantization"] == {"reduce_range": False, "symmetric_activations": True}
    saturates = cpu_saturates_u8s8()
    assert manifest["parity"]["int8"]["onnxruntime_kernels"] == ("exact Q/DQ (basic optimisation)" if saturates
                                                                 else "fused int8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = make_backend("onnxruntime", str(tmp_path), load_manifest(str(tmp_path)))
    assert backend.exact_int8 == saturates == any("full-range int8" in str(w.message) for w in caught)
    out = backend.run({"image": np.zeros((1, 224, 224, 3), np.uint8), "class_index": np.zeros(1, np.int64)})
    assert out["anomaly_map"].shape == (1, 224, 224)


def test_benchmark_deploy_task_prints_table(bundle, trained):
    from gen3d.deploy.benchmark import BOUNDED_SPIN_US

    out = run_tool("benchmark.py", "deploy", "--bundle", str(bundle), "--checkpoint", str(trained[1]), "--config",
                   TINY, "--batch-sizes", "1", "2", "--rounds", "1", "--threads", "1", "--ort-spin", "all")
    assert out.returncode == 0, out.stderr[-4000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("pytorch eager", "onnxruntime fp32"))]
    assert len(lines) == 8, out.stdout  # (eager, ORT passive, bounded and spinning threads) x 2 batch sizes
    assert sum(" spin " in ln for ln in lines) == 4 and sum(f" spin {BOUNDED_SPIN_US} us " in ln for ln in lines) == 2
    assert "peak MiB" in out.stdout and "speed-up" in out.stdout


def test_benchmark_sessions_get_their_spin_settings(tmp_path):
    """Each ONNX Runtime row kind reaches its session: passive, spinning, and spinning bounded in time."""
    from gen3d.deploy.benchmark import BOUNDED_SPIN_US, ORT_KINDS, _make_ort

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
                                                            [x], [y])), str(tmp_path / "m.onnx"))
    def entry(opts, key):  # noqa: ANN001, ANN202
        try:
            return opts.get_session_config_entry(f"session.intra_op.{key}")
        except Exception:  # onnxruntime raises when the key was never set
            return None

    got = {}
    for kind in ORT_KINDS:
        opts = _make_ort(str(tmp_path / "m.onnx"), 1, (), kind).get_session_options()
        got[kind] = (entry(opts, "allow_spinning"), entry(opts, "spin_duration_us"))
    assert got == {"ort": ("0", None), "ort-spin": ("1", None), "ort-bounded": ("1", str(BOUNDED_SPIN_US))}


def test_benchmark_knows_static_batch_graphs(tmp_path):
    """A static batch-1 graph (TensorRT-style bundles) is timed at batch 1 only; a dynamic one at every batch."""
    from gen3d.deploy.benchmark import _static_batch

    for name, batch in (("static.onnx", 1), ("dynamic.onnx", "n")):
        x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 3])
        y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 3])
        graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
        onnx.save(onnx.helper.make_model(graph), str(tmp_path / name))
    assert _static_batch(str(tmp_path / "static.onnx")) == 1
    assert _static_batch(str(tmp_path / "dynamic.onnx")) is None


def test_runtime_threshold_overrides_reach_the_exported_graph(bundle):
    """Thresholds are graph inputs with stored defaults: an override must change the in-graph labels and masks.

    (ONNX Runtime does not list such inputs in ``get_inputs()``; they used to be dropped silently.)
    """
    from gen3d.runtime import AnomalyRuntime

    rt = AnomalyRuntime(str(bundle), backend="onnxruntime", threads=1)
    cls = rt.classes[0]
    frames = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(3)]
    default = rt.predict(frames, cls)
    low = rt.predict(frames, cls, thresholds={cls: {"image": 1e-9, "pixel": 1e-9}})
    high = rt.predict(frames, cls, thresholds={cls: {"image": 1e9, "pixel": 1e9}})
    assert all(r.label is True and r.pred_mask.all() for r in low)
    assert all(r.label is False and not r.pred_mask.any() for r in high)
    assert [r.raw_score for r in low] == pytest.approx([r.raw_score for r in default])  # only the decision moved
