"""AnomalyRuntime on tiny onnx.helper bundles: inputs, thresholds, classes, raw mode, manifest checks, backends."""

import os

import numpy as np
import pytest

from gen3d.runtime import AnomalyRuntime, ManifestError, Result
from gen3d.runtime.backend import OrtBackend, make_backend, tensorrt_available
from gen3d.runtime.manifest import UnverifiedBundleWarning, reseal_bundle
from tests.test_runtime.bundle_helpers import CLASSES, IMAGE_THR, edit_manifest, frame, make_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def runtime(bundle):
    return AnomalyRuntime(bundle, backend="onnxruntime", threads=1)


def test_end2end_verdicts_resize_and_batching(runtime):
    frames = [frame(False), frame(True), frame(True, (50, 20)), frame(False, (16, 16))]
    results = runtime.predict(frames, ["bottle", "cable", "cable", "bottle"], sources=["a", "b", "c", "d"])
    assert [r.source for r in results] == ["a", "b", "c", "d"]
    assert all(isinstance(r, Result) and r.error is None for r in results)
    assert [r.label for r in results] == [False, True, True, False]
    assert results[0].score == pytest.approx(40 / 255 / (2 * IMAGE_THR[0]), rel=1e-5)
    assert results[1].score == pytest.approx(250 / 255 / (2 * IMAGE_THR[1]), rel=1e-5)  # cable's threshold
    for r in results:  # the graph is static 16x16: every frame was resized to it
        assert r.anomaly_map.shape == (16, 16) and r.anomaly_map.dtype == np.float32
        assert r.pred_mask.shape == (16, 16) and r.pred_mask.dtype == np.uint8
        assert r.latency_ms > 0
    assert results[1].pred_mask.any() and not results[0].pred_mask.any()
    assert results[1].anomaly_map.max() == pytest.approx(250 / 255 / (2 * 0.6), rel=1e-5)  # normalised map
    assert all(r.map_threshold == 0.5 for r in results)
    assert runtime.max_batch is None and runtime.input_size == (16, 16)


def test_dynamic_graph_takes_frames_as_they_are(tmp_path):
    rt = AnomalyRuntime(make_bundle(tmp_path / "dyn", size=None, classes=["bottle"]), backend="onnxruntime")
    results = rt.predict([frame(True, (24, 32)), frame(False, (10, 12)), frame(True, (24, 32))])  # one class: default
    assert [r.anomaly_map.shape for r in results] == [(24, 32), (10, 12), (24, 32)]
    assert [r.label for r in results] == [True, False, True]
    assert all(r.class_name == "bottle" for r in results)


def test_threshold_overrides_change_labels(bundle):
    rt = AnomalyRuntime(bundle, backend="onnxruntime")
    dark = [frame(False)]
    assert rt.predict(dark, "bottle")[0].label is False
    per_call = rt.predict(dark, "bottle", thresholds={"bottle": {"image": 0.1, "pixel": 0.1}})[0]
    assert per_call.label is True and per_call.pred_mask.all()
    assert rt.predict(dark, "bottle")[0].label is False  # a per-call override does not stick
    rt.set_thresholds({"bottle": {"image": 0.1}})
    res = rt.predict(dark, "bottle")[0]
    assert res.label is True and not res.pred_mask.any()  # pixel threshold kept its default
    assert rt.thresholds["bottle"] == {"image": 0.1, "pixel": 0.5}
    assert rt.predict(dark, "cable")[0].label is False
    with pytest.raises(ValueError, match="unknown threshold keys"):
        rt.set_thresholds({"bottle": {"img": 0.1}})


def test_unknown_class_is_named_with_the_known_ones(runtime):
    with pytest.raises(ValueError, match="unknown class 'screw'") as err:
        runtime.predict([frame(False)], "screw")
    assert all(c in str(err.value) for c in CLASSES)
    with pytest.raises(ValueError, match="knows 2 classes"):
        runtime.predict([frame(False)])  # several classes: no default
    with pytest.raises(ValueError, match="unknown class 'screw'"):
        runtime.set_thresholds({"screw": {"image": 1.0}})


def test_bad_frames_are_refused_clearly(runtime):
    with pytest.raises(ValueError, match="uint8"):
        runtime.predict([np.zeros((8, 8, 3), np.float32)], "bottle")
    gray = runtime.predict([np.full((8, 8), 250, np.uint8)], "bottle")[0]
    assert gray.label is True


def test_raw_mode_preprocesses_and_thresholds_in_numpy(tmp_path, runtime):
    raw = AnomalyRuntime(make_bundle(tmp_path / "raw", mode="raw"), backend="onnxruntime")
    frames = [frame(False), frame(True, (40, 30))]
    got = raw.predict(frames, "cable")
    ref = runtime.predict(frames, "cable")
    for g, r in zip(got, ref):
        assert g.label == r.label and g.score == pytest.approx(r.score, rel=1e-5)
        np.testing.assert_allclose(g.anomaly_map, r.anomaly_map, atol=1e-5)
        np.testing.assert_array_equal(g.pred_mask, r.pred_mask)
    assert got[1].raw_score == pytest.approx(250 / 255, rel=1e-5)
    assert raw.predict(frames[:1], "cable", thresholds={"cable": {"image": 0.1}})[0].label is True


def test_manifest_hash_mismatch_is_an_error(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    edit_manifest(bundle, lambda m: m["onnx"].update(sha256="0" * 64))  # re-sealed: only the file hash is wrong
    with pytest.raises(ManifestError, match="does not match the sha256 in onnx.sha256"):
        AnomalyRuntime(bundle, backend="onnxruntime")
    with pytest.warns(UnverifiedBundleWarning, match="onnx.sha256"):
        AnomalyRuntime(bundle, backend="onnxruntime", verify_hashes=False)  # explicit opt-out still loads


def test_graph_that_does_not_match_the_manifest_is_refused(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    manifest = edit_manifest(bundle, lambda m: m["inputs"][0].update(dtype="float32"))
    with pytest.raises(ManifestError, match="'image' is uint8 in the graph but float32"):
        AnomalyRuntime(bundle, backend="onnxruntime")
    edit_manifest(bundle, lambda m: m.update(inputs=manifest["inputs"][1:]))
    with pytest.raises(ManifestError, match="no 'image' input"):
        AnomalyRuntime(bundle, backend="onnxruntime")


@pytest.mark.skipif(tensorrt_available(), reason="checks the message given where TensorRT is missing")
def test_tensorrt_backend_without_tensorrt_is_a_clear_error(tmp_path, bundle):
    with pytest.raises(RuntimeError, match="tensorrt Python package is not installed") as err:
        AnomalyRuntime(bundle, backend="tensorrt")
    assert "has no TensorRT engine" in str(err.value) and "onnxruntime" in str(err.value)
    with_engine = make_bundle(tmp_path / "eng", engine={"file": "model.engine", "precision": "fp16"})
    open(os.path.join(with_engine, "model.engine"), "wb").write(b"not an engine")
    assert reseal_bundle(with_engine) == ["engine.sha256", "manifest_sha256"]  # the engine added after export
    with pytest.raises(RuntimeError, match="tensorrt Python package is not installed") as err:
        AnomalyRuntime(with_engine, backend="tensorrt")
    assert "no TensorRT engine" not in str(err.value)
    auto = AnomalyRuntime(with_engine, backend="auto")  # auto falls back to onnxruntime
    assert isinstance(auto.backend, OrtBackend) and auto.backend_name == "onnxruntime"
    with pytest.raises(ValueError, match="Unknown backend"):
        make_backend("openvino", with_engine, auto.manifest)


def test_ort_backend_refuses_feeds_it_cannot_deliver(bundle):
    backend = OrtBackend(os.path.join(bundle, "model.onnx"), threads=1)
    assert backend.input_shapes["image"] == (None, 16, 16, 3)
    assert backend.input_dtypes["image"] == np.uint8
    feeds = {"image": np.zeros((1, 16, 16, 3), np.uint8), "class_index": np.zeros(1, np.int64),
             "image_threshold": np.ones(2, np.float32), "pixel_threshold": np.ones(2, np.float32)}
    out = backend.run(feeds)
    assert set(out) == {"pred_score", "pred_label", "anomaly_map", "pred_mask"}
    with pytest.raises(KeyError, match=r"no input \['not_in_graph'\]"):  # never dropped without a word
        backend.run({**feeds, "not_in_graph": np.zeros(1)})
    with pytest.raises(KeyError, match=r"missing inputs \['image_threshold', 'pixel_threshold'\]"):
        backend.run({k: feeds[k] for k in ("image", "class_index")})


def test_manifest_defaults_feed_inputs_that_are_not_given(bundle):
    """The thresholds are real graph inputs; their defaults come from the manifest (never an ONNX initializer)."""
    import onnx

    from gen3d.runtime.backend import manifest_defaults
    from gen3d.runtime.manifest import load_manifest

    path = os.path.join(bundle, "model.onnx")
    assert not {i.name for i in onnx.load(path).graph.initializer} & {"image_threshold", "pixel_threshold"}
    defaults = manifest_defaults(load_manifest(bundle))
    backend = OrtBackend(path, threads=1, defaults=defaults)
    feeds = {"image": np.full((1, 16, 16, 3), 250, np.uint8), "class_index": np.ones(1, np.int64)}
    np.testing.assert_array_equal(backend.run(feeds)["pred_label"], backend.run({**feeds, **defaults})["pred_label"])
    high = {"image_threshold": np.full(2, 1e6, np.float32)}
    assert backend.run(feeds)["pred_label"].all() and not backend.run({**feeds, **high})["pred_label"].any()


def test_runtime_refuses_a_graph_whose_thresholds_were_folded(bundle):
    """An engine built from a file with initializer thresholds has no threshold inputs: refused at load."""

    class _Folded(_EngineLike):
        def __init__(self, onnx_path):
            super().__init__(onnx_path)
            self.input_names = ["image", "class_index"]

    with pytest.raises(ManifestError, match="no input 'image_threshold'.*rebuild the engine"):
        AnomalyRuntime(bundle, backend=_Folded(os.path.join(bundle, "model.onnx")))


def _entry(options, key):  # noqa: ANN001, ANN202
    try:
        return options.get_session_config_entry(key)
    except Exception:  # onnxruntime raises for a key never set
        return None


@pytest.mark.parametrize("hint_us", [None, "200"])
@pytest.mark.parametrize("spin, expected", [(None, "0"), (True, "1"), (False, "0"), (50, "1")])
def test_ort_backend_thread_spinning(bundle, spin, expected, hint_us):
    """The bundle's hint (passive pool threads) by default; ``spin`` overrides it: on (unbounded: a bounded hint is
    dropped), off, or a number of microseconds to spin before sleeping."""
    from gen3d.runtime.manifest import load_manifest

    manifest = load_manifest(bundle)
    hint = {"session.intra_op.allow_spinning": "0"}
    if hint_us:
        hint["session.intra_op.spin_duration_us"] = hint_us
    manifest["runtime_hints"] = {"onnxruntime": {"session_config": hint}}
    backend = make_backend("onnxruntime", bundle, manifest, threads=2, spin=spin)
    options = backend.session.get_session_options()
    assert _entry(options, "session.intra_op.allow_spinning") == expected
    want_us = "50" if spin == 50 else (hint_us if spin is None else None)
    assert _entry(options, "session.intra_op.spin_duration_us") == want_us


def test_spin_choice_from_the_command_line():
    """``--spin-us`` gives a bounded spin; with ``--spin``/``--no-spin`` or not positive it is an error."""
    from gen3d.runtime.__main__ import build_parser, spin_choice
    from gen3d.runtime.backend import with_spin

    parse = build_parser().parse_args
    assert spin_choice(parse(["m", "in"])) is None
    assert spin_choice(parse(["m", "in", "--no-spin"])) is False
    assert spin_choice(parse(["m", "in", "--spin-us", "50"])) == 50
    with pytest.raises(ValueError, match="do not combine"):
        spin_choice(parse(["m", "in", "--spin", "--spin-us", "50"]))
    with pytest.raises(ValueError, match="positive"):
        spin_choice(parse(["m", "in", "--spin-us", "0"]))
    with pytest.raises(ValueError, match="positive"):
        with_spin({}, -5)


class _EngineLike:
    """A TensorRT-like backend over onnxruntime: static batch 1, int32 class_index (as TensorRT 8.6 stores it)."""

    name = "fake-engine"

    def __init__(self, onnx_path):
        self.ort = OrtBackend(onnx_path, threads=1)
        self.input_names, self.output_names = self.ort.input_names, self.ort.output_names
        self.input_dtypes = {**self.ort.input_dtypes, "class_index": np.dtype(np.int32)}
        self.input_shapes = {**self.ort.input_shapes, "image": (1, 16, 16, 3)}
        self.batches = []

    def run(self, feeds):
        self.batches.append(len(feeds["image"]))
        return self.ort.run({**feeds, "class_index": feeds["class_index"].astype(np.int64)})


def test_any_backend_gives_the_same_results(bundle, runtime):
    engine = _EngineLike(os.path.join(bundle, "model.onnx"))
    other = AnomalyRuntime(bundle, backend=engine)
    frames = [frame(False), frame(True), frame(True, (9, 7))]
    got, ref = other.predict(frames, "cable"), runtime.predict(frames, "cable")
    assert engine.batches == [1, 1, 1] and other.backend_name == "fake-engine"
    for g, r in zip(got, ref):
        assert type(g) is type(r) and g.label == r.label and g.score == pytest.approx(r.score)
        np.testing.assert_array_equal(g.pred_mask, r.pred_mask)


def test_older_bundles_with_initializer_defaults_still_run(tmp_path, runtime):
    """Bundles written before the thresholds left the graph stored them as initializers: still inputs, still fed."""
    import onnx

    old = make_bundle(tmp_path / "old")
    path = os.path.join(old, "model.onnx")
    proto = onnx.load(path)
    for name, values in (("image_threshold", [9.0, 9.0]), ("pixel_threshold", [9.0, 9.0])):
        proto.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(values, np.float32), name))
    onnx.save(proto, path)
    reseal_bundle(old)
    legacy = AnomalyRuntime(old, backend="onnxruntime", threads=1)
    assert {"image_threshold", "pixel_threshold"} <= set(legacy.backend.input_names)
    frames = [frame(False), frame(True)]
    got, ref = legacy.predict(frames, "cable"), runtime.predict(frames, "cable")
    assert [g.label for g in got] == [r.label for r in ref] == [False, True]  # the manifest's values are fed, not 9
