"""SegmentationRuntime and run_bundle on real segmentation bundles of a tiny DeepLabV3+ (built by gen3d.deploy).

The model is the lite0 DeepLabV3+ of the demo configs at test size (16-channel head, no pretrained weights) with a
scaled classifier so that every class wins somewhere; bundles are written by build_segmentation_bundle (its fp32
gate included) for end2end logits, end2end label map and raw mode.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from gen3d.runtime import ManifestError, SegmentationRuntime, read_label_map, run_bundle, write_label_map
from gen3d.runtime.colormaps import label_colormap
from gen3d.runtime.segmentation import resize_logits, seg_result
from gen3d.runtime.writers import seg_columns
from tests.conftest import REPO_ROOT
from tests.helpers.seg_data import FOLDER_CLASSES, image, make_folder_seg_tree
from tests.test_runtime.bundle_helpers import edit_manifest, make_bundle, run_without_torch
from tests.test_runtime.test_sources import write_video

SUP = str(REPO_ROOT / "configs" / "u2pl" / "supervised_deeplabv3plus-lite0_1xb4-80e_folder-seg-96.py")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def make_tiny_segmentor_checkpoint(path: Path, data_root: Path) -> Path:
    """A lite0 DeepLabV3+ checkpoint (3 classes, 16-channel head) with its config and the classes in its meta.

    The classifier is redrawn (std 20, no bias): at random init one class would win every pixel, which would make
    label parity trivially true.
    """
    from mmengine.registry import init_default_scope

    from gen3d.registry import MODELS
    from gen3d.utils.config import apply_data_root

    cfg = Config.fromfile(SUP)
    cfg.merge_from_dict({"model.backbone.pretrained": False, "model.decode_head.num_classes": len(FOLDER_CLASSES),
                         "model.decode_head.channels": 16, "model.decode_head.low_level_channels": 8})
    apply_data_root(cfg, str(data_root))
    init_default_scope("gen3d")
    torch.manual_seed(0)
    model = MODELS.build(cfg.model.to_dict())
    with torch.no_grad():
        cls = model.decode_head.classifier
        cls.weight.copy_(torch.randn(cls.weight.shape, generator=torch.Generator().manual_seed(1)) * 20.0)
        cls.bias.zero_()
    meta = {"cfg": cfg.pretty_text, "model_type": type(model).__name__,
            "dataset_meta": {"classes": list(FOLDER_CLASSES)}}
    torch.save({"meta": meta, "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``(model, checkpoint, data root)``: the model from init_model, data root applied."""
    from gen3d.apis.inference import init_model
    from gen3d.utils.config import apply_data_root

    root = make_folder_seg_tree(tmp_path_factory.mktemp("segdata"))
    ckpt = make_tiny_segmentor_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny_seg.pth", root)
    model = init_model(str(ckpt))
    apply_data_root(model.cfg, str(root))
    return model, ckpt, root


def _deploy_cfg(mode: str, output: str = "logits", simplify: bool = True) -> Config:
    return Config(dict(onnx_config=dict(type="onnx", opset_version=17, save_file="model.onnx", input_shape=None,
                                        dynamic_batch=True, batch_size=1, simplify=simplify),
                       codebase_config=dict(type="gen3d", task="segmentation", mode=mode, output=output),
                       backend_config=dict(type="onnxruntime", precision="fp32")))


@pytest.fixture(scope="module")
def bundles(tiny, tmp_path_factory):
    """``{'logits', 'label_map', 'raw'}`` -> bundle folder."""
    from gen3d.deploy.segmentation_bundle import build_segmentation_bundle

    model, ckpt, _ = tiny
    out = {}
    for name, (mode, output) in {"logits": ("end2end", "logits"), "label_map": ("end2end", "label_map"),
                                 "raw": ("raw", "logits")}.items():
        out[name] = str(tmp_path_factory.mktemp(f"bundle_{name}"))
        # only one simplified graph (onnxslim takes seconds; the runtime reads either the same way)
        build_segmentation_bundle(_deploy_cfg(mode, output, simplify=name == "logits"), model, str(ckpt), out[name],
                                  max_images=2)
    return out


def _torch_logits(model, images: np.ndarray) -> np.ndarray:
    from gen3d.deploy.segmentation_wrapper import reference_logits, segmentor_of

    return reference_logits(segmentor_of(model)[0], images)


def _agreement(labels: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
    """(fraction of pixels equal to argmax(logits), fraction among pixels whose top-2 margin exceeds 1e-4)."""
    same = labels == logits.argmax(1)
    top2 = np.sort(logits, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 1e-4
    return float(same.mean()), float(same[decided].mean())


@pytest.mark.parametrize("which", ["logits", "label_map", "raw"])
def test_labels_match_the_pytorch_segmentor(which, tiny, bundles):
    from gen3d.apis.seg_inference import inference_segmentor

    model = tiny[0]
    images = np.stack([image(k) for k in range(6)])  # 24 x 32: the graph's size, no resize on either side
    runtime = SegmentationRuntime(bundles[which], backend="onnxruntime", threads=1)
    results = runtime.predict(list(images), sources=[f"img{k}" for k in range(6)])
    labels = np.stack([r.label_map for r in results])
    ref = _torch_logits(model, images)
    assert len(np.unique(ref.argmax(1))) == len(FOLDER_CLASSES)  # every class wins somewhere: a real comparison
    assert labels.shape == (6, 24, 32) and labels.dtype == np.uint8
    all_px, decided = _agreement(labels, ref)
    # identical except at ties: a pixel whose two best PyTorch logits are within fp32 reordering noise (1e-4 here,
    # ORT's measured error is ~1e-7) may go either way; they may not exceed 0.1 % of the pixels
    print(f"{which}: label agreement {all_px:.6f} (all pixels), {decided:.6f} (top-2 margin > 1e-4)")
    assert decided == 1.0 and all_px >= 0.999
    api = np.stack([s.pred_sem_seg.numpy() for s in inference_segmentor(model, list(images))])  # the torch API
    assert _agreement(api, ref)[1] == 1.0 and (api == labels).mean() >= 0.999


def test_other_frame_sizes_come_back_at_their_own_size(tiny, bundles):
    """Resize to the graph (cv2 bilinear), logits back bilinearly (torch align_corners=False), then argmax."""
    import torch.nn.functional as F

    frames = [image(10, 48, 40), image(11, 12, 20)]
    res = SegmentationRuntime(bundles["logits"], backend="onnxruntime", threads=1).predict(frames)
    for frame, r in zip(frames, res):
        assert r.label_map.shape == frame.shape[:2]
        small = cv2.resize(frame, (32, 24), interpolation=cv2.INTER_LINEAR)
        logits = torch.from_numpy(_torch_logits(tiny[0], small[None]))
        up = F.interpolate(logits, size=frame.shape[:2], mode="bilinear", align_corners=False)[0].numpy()
        np.testing.assert_allclose(resize_logits(logits[0].numpy(), frame.shape[:2]), up, atol=1e-5)
        assert (r.label_map == up.argmax(0)).mean() >= 0.999
    lm = SegmentationRuntime(bundles["label_map"], backend="onnxruntime", threads=1).predict(frames[:1])[0]
    assert lm.label_map.shape == (48, 40)  # a label-map output: nearest neighbour back to the frame


def test_areas_count_every_pixel_and_fractions_sum_to_one(bundles):
    runtime = SegmentationRuntime(bundles["logits"], backend="onnxruntime", threads=1)
    for r in runtime.predict([image(3), image(4, 30, 50)]):
        assert r.counts.sum() == r.label_map.size
        np.testing.assert_array_equal(r.counts, np.bincount(r.label_map.ravel(), minlength=3))
        assert abs(r.fractions.sum() - 1.0) < 1e-12
        areas = r.areas()
        assert list(areas) == list(FOLDER_CLASSES) and abs(sum(a["fraction"] for a in areas.values()) - 1) < 1e-12


@pytest.mark.parametrize("num_classes", [3, 300])
def test_label_map_png_round_trip(num_classes, tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, num_classes, (17, 23))
    res = seg_result("x", labels, [f"c{k}" for k in range(num_classes)])
    assert res.label_map.dtype == (np.uint8 if num_classes <= 256 else np.uint16)
    write_label_map(str(tmp_path / "x.png"), res.label_map)
    back = read_label_map(str(tmp_path / "x.png"))
    assert back.dtype == res.label_map.dtype
    np.testing.assert_array_equal(back, labels)


def test_palette_from_manifest_else_the_fixed_colormap(bundles, tmp_path):
    plain = SegmentationRuntime(bundles["logits"], backend="onnxruntime", threads=1)
    np.testing.assert_array_equal(plain.palette, label_colormap(3))
    copy = shutil.copytree(bundles["logits"], tmp_path / "pal")
    palette = [[10, 200, 30], [250, 0, 250], [0, 90, 255]]
    edit_manifest(copy, lambda m: m["model"].__setitem__("palette", palette))
    runtime = SegmentationRuntime(str(copy), backend="onnxruntime", threads=1)
    np.testing.assert_array_equal(runtime.palette, palette)
    frame = np.zeros((24, 32, 3), np.uint8)  # black: the overlay half is exactly half the palette colour
    res = runtime.predict([frame])[0]
    pic = runtime.overlay(frame, res)
    assert pic.shape[1] == 64 and pic.shape[0] > 24
    expect = (np.asarray(palette)[res.label_map] * 0.5).round()
    assert np.abs(pic[:24, 32:].astype(int) - expect).max() <= 1
    edit_manifest(copy, lambda m: m["model"].__setitem__("palette", [[1, 2, 3]]))
    with pytest.raises(ManifestError, match="model.palette must hold 3 RGB triples"):
        SegmentationRuntime(str(copy), backend="onnxruntime")


def test_a_bundle_of_another_task_is_refused(tmp_path, bundles):
    from gen3d.runtime import AnomalyRuntime

    with pytest.raises(ManifestError, match="holds a anomaly model, not a segmentation model"):
        SegmentationRuntime(make_bundle(tmp_path / "anomaly"), backend="onnxruntime")
    with pytest.raises(ManifestError, match="not an anomaly model"):
        AnomalyRuntime(bundles["logits"], backend="onnxruntime")


def test_run_bundle_rows_label_maps_and_overlays(bundles, tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    for k, rel in enumerate(("a.png", "sub/a.png", "big.png")):
        img = image(20 + k, *((48, 64) if rel == "big.png" else (24, 32)))
        cv2.imwrite(str(inputs / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (inputs / "broken.png").write_bytes(b"\x89PNG garbage")
    log = io.StringIO()
    out = tmp_path / "out"
    summary = run_bundle(bundles["logits"], str(inputs), str(out), backend="onnxruntime", threads=1, batch_size=2,
                         log=log)
    assert summary["rows"].endswith("segmentation.csv") and summary["counts"] == {"ok": 3, "error": 1}
    rows = list(csv.DictReader(open(summary["rows"])))
    assert list(rows[0]) == list(seg_columns(FOLDER_CLASSES)) == [
        "path", "error", "latency_ms", "label_map", "area_background", "area_thing", "area_stuff",
        "pixels_background", "pixels_thing", "pixels_stuff"]
    by = {os.path.relpath(r["path"], inputs): r for r in rows}
    assert by["broken.png"]["error"] and by["broken.png"]["label_map"] == "" and by["broken.png"]["area_thing"] == ""
    runtime = SegmentationRuntime(bundles["logits"], backend="onnxruntime", threads=1)
    for rel in ("a.png", "sub/a.png", "big.png"):
        row = by[rel]
        assert float(row["latency_ms"]) > 0 and not row["error"]
        assert abs(sum(float(row[f"area_{c}"]) for c in FOLDER_CLASSES) - 1.0) < 1e-5
        labels = read_label_map(row["label_map"])
        rgb = cv2.cvtColor(cv2.imread(str(inputs / rel)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(labels, runtime.predict([rgb])[0].label_map)
        assert sum(int(row[f"pixels_{c}"]) for c in FOLDER_CLASSES) == labels.size == rgb.shape[0] * rgb.shape[1]
        overlay = out / "overlays" / os.path.basename(row["label_map"])
        assert cv2.imread(str(overlay)).shape[1] == 2 * rgb.shape[1]
    assert sorted(p.name for p in (out / "label_maps").iterdir()) == ["a.png", "big.png", "sub__a.png"]
    assert abs(sum(summary["mean_area"].values()) - 1.0) < 1e-9 and "mean area" in log.getvalue()
    js = run_bundle(bundles["logits"], str(inputs / "a.png"), str(tmp_path / "js"), backend="onnxruntime",
                    jsonl=True, overlay=False, log=io.StringIO())
    row = json.loads(open(js["rows"]).read().splitlines()[0])
    assert row["pixels_thing"] == int(by["a.png"]["pixels_thing"]) and not (tmp_path / "js" / "overlays").exists()
    with pytest.raises(ValueError, match="--class-name 'bottle' is for anomaly bundles"):
        run_bundle(bundles["logits"], str(inputs), str(tmp_path / "x"), class_name="bottle", log=io.StringIO())
    with pytest.raises(ValueError, match="--save defects is for anomaly"):
        run_bundle(bundles["logits"], str(inputs), str(tmp_path / "x"), save="defects", log=io.StringIO())
    with pytest.raises(ValueError, match="--thresholds is for anomaly bundles"):
        run_bundle(bundles["logits"], str(inputs), str(tmp_path / "x"), thresholds={"a": {"image": 1.0}})


def test_video_with_annotated_movie(bundles, tmp_path):
    video = write_video(tmp_path / "v.avi", n=4)
    summary = run_bundle(bundles["raw"], str(video), str(tmp_path / "out"), backend="onnxruntime", video=True,
                         vid_stride=2, log=io.StringIO())
    rows = list(csv.DictReader(open(summary["rows"])))
    assert [r["path"].rsplit("#", 1)[1] for r in rows] == ["0", "2"] and summary["counts"]["ok"] == 2
    assert cv2.VideoCapture(summary["video"]).get(cv2.CAP_PROP_FRAME_COUNT) == 2
    assert len(list((tmp_path / "out" / "overlays").iterdir())) == 2  # segmentation saves every frame's overlay


def test_python_m_gen3d_runtime_on_a_seg_bundle_without_torch(bundles, tmp_path):
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), image(7))
    out = run_without_torch("-c", "import sys, runpy; sys.argv = ['gen3d.runtime'] + sys.argv[1:]; "
                                  "runpy.run_module('gen3d.runtime', run_name='__main__')",
                            bundles["label_map"], str(img), "--out-dir", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO_TORCH_OK")
    row = next(csv.DictReader(open(tmp_path / "out" / "segmentation.csv")))
    assert read_label_map(row["label_map"]).shape == (24, 32)
    plain = subprocess.run([sys.executable, "-m", "gen3d.runtime", bundles["logits"], str(img), "--class-name", "x",
                            "--out-dir", str(tmp_path / "o2")], cwd=REPO_ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    assert plain.returncode == 1 and plain.stderr.startswith("error: --class-name 'x' is for anomaly bundles")
