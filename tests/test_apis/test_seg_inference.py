"""init_model and inference_segmentor on a segmentation checkpoint, and tools/infer.py on one (the runtime's loop)."""

import csv

import cv2
import numpy as np
import pytest
import torch

from gen3d.apis.inference import init_model, is_anomaly_model, load_predictor
from gen3d.apis.seg_inference import SegCheckpointPredictor, inference_segmentor, is_segmentor
from gen3d.runtime.segmentation import read_label_map
from gen3d.runtime.writers import seg_columns
from tests.conftest import run_tool
from tests.helpers.seg_data import FOLDER_CLASSES, image, make_folder_seg_tree
from tests.test_runtime.test_segmentation_runtime import make_tiny_segmentor_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = make_folder_seg_tree(tmp_path_factory.mktemp("segdata"))
    return make_tiny_segmentor_checkpoint(tmp_path_factory.mktemp("ckpt") / "seg.pth", root)


@pytest.fixture(scope="module")
def model(ckpt):
    return init_model(str(ckpt))


def test_init_model_loads_a_segmentor_with_its_classes(model):
    assert type(model).__name__ == "EncoderDecoder" and not model.training
    assert is_segmentor(model) and not is_anomaly_model(model)
    assert model.dataset_meta["classes"] == list(FOLDER_CLASSES) and model.thresholds == {}


def test_inference_segmentor_label_maps_and_scores_per_image_size(model):
    images = [image(0), image(1, 40, 28), image(2)]  # mixed sizes: grouped, never padded together
    samples = inference_segmentor(model, images, batch_size=2)
    assert len(samples) == 3
    for img, sample in zip(images, samples):
        h, w = img.shape[:2]
        assert sample.pred_sem_seg.shape == (h, w) and sample.seg_logits.shape == (3, h, w)
        assert torch.equal(sample.pred_sem_seg, sample.seg_logits.argmax(0))
        x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() - 127.5) / 127.5  # the config's mean / std
        with torch.no_grad():
            ref = model(x, mode="tensor")[0]
        torch.testing.assert_close(sample.seg_logits, ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match=r"image 0: expected \(H, W, 3\) uint8"):
        inference_segmentor(model, [np.zeros((8, 8), np.uint8)])


def test_checkpoint_predictor_areas_and_refusals(model, ckpt):
    pred = load_predictor(str(ckpt))
    assert isinstance(pred, SegCheckpointPredictor) and pred.classes == list(FOLDER_CLASSES)
    res = pred.predict([image(5)], None, ["a"])[0]
    assert res.label_map.dtype == np.uint8 and res.counts.sum() == 24 * 32 and abs(res.fractions.sum() - 1) < 1e-12
    assert pred.overlay(image(5), res).shape[1] == 64
    with pytest.raises(ValueError, match="--thresholds is for anomaly checkpoints"):
        load_predictor(str(ckpt), thresholds={"a": {"image": 1.0}})
    with pytest.raises(ValueError, match="is for anomaly models"):
        pred.resolve_class("bottle")


def test_infer_tool_runs_a_segmentation_checkpoint_through_the_runtime_loop(model, ckpt, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    images = {"x.png": image(8), "y.png": image(9, 30, 20)}
    for name, img in images.items():
        cv2.imwrite(str(root / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out = run_tool("infer.py", str(ckpt), str(root), "--out-dir", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "pytorch-cpu" in out.stderr and "mean area" in out.stderr
    rows = list(csv.DictReader(open(tmp_path / "out" / "segmentation.csv")))
    assert list(rows[0]) == list(seg_columns(FOLDER_CLASSES)) and len(rows) == 2
    for row in rows:
        img = images[row["path"].rsplit("/", 1)[1]]
        expect = inference_segmentor(model, [img])[0].pred_sem_seg.numpy()
        np.testing.assert_array_equal(read_label_map(row["label_map"]), expect)
        assert sum(int(row[f"pixels_{c}"]) for c in FOLDER_CLASSES) == expect.size
    assert len(list((tmp_path / "out" / "overlays").iterdir())) == 2
