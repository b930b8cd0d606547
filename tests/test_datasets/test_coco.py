"""CocoAnomalyDataset: polygons, uncompressed and compressed RLE, per-class and single json."""

import json
from pathlib import Path

import numpy as np
import pytest

from gen3d.datasets import CocoAnomalyDataset, DatasetError, MissingDataError
from gen3d.datasets.transforms import LoadAnomalyImage, LoadAnomalyMask
from tests.helpers.anomaly_data import CLASSES, DEFECTS, N_DEFECT, N_TEST_GOOD, N_TRAIN, make_coco_tree


def _check_masks(ds: CocoAnomalyDataset, expected: dict[str, np.ndarray]) -> None:
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len(infos) == len(CLASSES) * (N_TEST_GOOD + N_DEFECT * len(DEFECTS))
    bad = [r for r in infos if r["gt_label"] == 1]
    assert {r["img_path"] for r in bad} == set(expected)
    for r in infos:
        out = LoadAnomalyMask()(LoadAnomalyImage()(r))
        if r["gt_label"]:
            np.testing.assert_array_equal(out["gt_mask"], expected[r["img_path"]], err_msg=r["img_path"])
        else:
            assert r["defect_type"] == "good" and not out["gt_mask"].any()
    assert {r["defect_type"] for r in bad} == {*DEFECTS, "+".join(sorted(DEFECTS))}


def test_per_class_json(coco_tree: tuple[str, dict]) -> None:
    root, expected = coco_tree
    test = CocoAnomalyDataset(root, split="test")
    assert test.metainfo["classes"] == CLASSES
    _check_masks(test, expected)
    train = CocoAnomalyDataset(root, split="train", val_ratio=0.0)
    assert len(train) == len(CLASSES) * N_TRAIN


def test_single_json(coco_single_tree: tuple[str, dict]) -> None:
    root, expected = coco_single_tree
    test = CocoAnomalyDataset(root, ann_file="annotations/test.json", split="test")
    assert test.metainfo["classes"] == CLASSES  # the annotations folder is not a class
    _check_masks(test, expected)
    only = CocoAnomalyDataset(root, ann_file="annotations/test.json", split="test", classes=["carpet"])
    assert {only.get_data_info(i)["cls_name"] for i in range(len(only))} == {"carpet"}


def _edit_json(root: Path, fn) -> Path:
    path = root / "bottle" / "test" / "annotations.json"
    coco = json.loads(path.read_text())
    fn(coco)
    path.write_text(json.dumps(coco))
    return path


def test_refuses_bad_json(tmp_path) -> None:
    root = make_coco_tree(tmp_path)

    def train_image(coco: dict) -> None:
        coco["images"][0]["file_name"] = "../train/good/000.png"

    _edit_json(root, train_image)
    with pytest.raises(DatasetError, match="training image"):
        CocoAnomalyDataset(str(root), split="test")

    def unknown_category(coco: dict) -> None:
        coco["images"][0]["file_name"] = "images/000.png"
        coco["annotations"][0]["category_id"] = 99

    _edit_json(root, unknown_category)
    with pytest.raises(DatasetError, match="unknown category"):
        CocoAnomalyDataset(str(root), split="test")

    path = root / "bottle" / "test" / "annotations.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path)):
        CocoAnomalyDataset(str(root), split="test")


def test_missing_test_image_and_json(tmp_path) -> None:
    root = make_coco_tree(tmp_path)
    img = root / "carpet" / "test" / "images" / "000.png"
    img.unlink()
    with pytest.raises(MissingDataError, match=str(img)):
        CocoAnomalyDataset(str(root), split="test")
    (root / "carpet" / "test" / "annotations.json").unlink()
    with pytest.raises(ValueError, match="carpet"):
        CocoAnomalyDataset(str(root), split="test")
