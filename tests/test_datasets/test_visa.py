"""VisADataset: raw layout read through split_csv/1cls.csv, masks with region ids binarised."""

import os.path as osp
import shutil

import numpy as np
import pytest

from gen3d.datasets import VisADataset
from gen3d.datasets.transforms import LoadAnomalyImage, LoadAnomalyMask
from tests.helpers.anomaly_data import CLASSES, DEFECTS, N_DEFECT, N_TEST_GOOD, N_TRAIN, make_visa_tree


def test_classes_and_splits(visa_root: str) -> None:
    train = VisADataset(visa_root, split="train", val_ratio=0.2)
    val = VisADataset(visa_root, split="val", val_ratio=0.2)
    test = VisADataset(visa_root, split="test")
    assert train.metainfo["classes"] == CLASSES  # split_csv is not a class
    n_val = round(N_TRAIN * 0.2)
    assert len(train) == len(CLASSES) * (N_TRAIN - n_val) and len(val) == len(CLASSES) * n_val
    paths = [d.get_data_info(i)["img_path"] for d in (train, val) for i in range(len(d))]
    assert len(set(paths)) == len(paths) and all("/Images/Normal/" in p for p in paths)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert len(infos) == len(CLASSES) * (N_TEST_GOOD + N_DEFECT * len(DEFECTS))
    bad = [r for r in infos if r["gt_label"] == 1]
    assert len(bad) == len(CLASSES) * N_DEFECT * len(DEFECTS)
    assert all(r["defect_type"] == "anomaly" and osp.isfile(r["mask_path"]) for r in bad)
    assert all(r["defect_type"] == "good" and r["mask_path"] is None for r in infos if r["gt_label"] == 0)


def test_masks_binarised(visa_root: str) -> None:
    test = VisADataset(visa_root, split="test", classes=["bottle"])
    info = next(test.get_data_info(i) for i in range(len(test)) if test.get_data_info(i)["gt_label"] == 1)
    raw = np.unique(__import__("cv2").imread(info["mask_path"], 0))
    assert set(raw.tolist()) == {0, 1, 2}  # region ids, not 0/255
    out = LoadAnomalyMask()(LoadAnomalyImage()(info))
    assert set(np.unique(out["gt_mask"]).tolist()) == {0, 1}
    assert out["img"].shape == (48, 48, 3)


def test_bad_csv(tmp_path) -> None:
    root = make_visa_tree(tmp_path)
    csv_path = root / "split_csv" / "1cls.csv"
    text = csv_path.read_text()
    csv_path.write_text(text.replace("object,split", "obj,split", 1))
    with pytest.raises(ValueError, match="1cls.csv"):
        VisADataset(str(root))
    csv_path.write_text(text.replace(",test,anomaly,", ",test,broken,", 1))
    with pytest.raises(ValueError, match="line"):
        VisADataset(str(root), split="test")
    csv_path.unlink()
    with pytest.raises(FileNotFoundError, match="1cls.csv"):
        VisADataset(str(root))


def test_missing_image_and_mask(tmp_path) -> None:
    root = make_visa_tree(tmp_path)
    img = root / "carpet" / "Data" / "Images" / "Anomaly" / "000.JPG"
    mask = root / "carpet" / "Data" / "Masks" / "Anomaly" / "000.png"
    mask.unlink()
    with pytest.raises(FileNotFoundError, match=str(mask)):
        VisADataset(str(root), split="test")
    img.unlink()
    with pytest.raises(FileNotFoundError, match=str(img)):
        VisADataset(str(root), split="test")


def test_class_without_rows_is_empty(tmp_path) -> None:
    root = make_visa_tree(tmp_path)
    shutil.copytree(root / "carpet", root / "pcb1")
    with pytest.raises(ValueError, match="pcb1"):
        VisADataset(str(root))
    with pytest.warns(UserWarning, match="pcb1"):
        ds = VisADataset(str(root), skip_empty_classes=True)
    assert ds.metainfo["classes"] == CLASSES
