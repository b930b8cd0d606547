"""MVTecDataset: class discovery, train/val hold-out, test labels and masks."""

import os.path as osp

import pytest

from gen3d.datasets import MVTecDataset
from gen3d.registry import DATASETS
from tests.helpers.anomaly_data import CLASSES, DEFECTS, N_DEFECT, N_TEST, N_TEST_GOOD, N_TRAIN


def test_discovers_class_folders_sorted(mvtec_root: str) -> None:
    ds = MVTecDataset(mvtec_root, split="test")
    assert ds.metainfo["classes"] == CLASSES  # license.txt and other files are not classes
    assert {ds.get_data_info(i)["cls_name"] for i in range(len(ds))} == set(CLASSES)


def test_train_val_sizes_and_disjoint(mvtec_root: str) -> None:
    train = MVTecDataset(mvtec_root, split="train", val_ratio=0.2)
    val = MVTecDataset(mvtec_root, split="val", val_ratio=0.2)
    n_val = round(N_TRAIN * 0.2)
    assert len(train) == len(CLASSES) * (N_TRAIN - n_val)
    assert len(val) == len(CLASSES) * n_val
    train_paths = {train.get_data_info(i)["img_path"] for i in range(len(train))}
    val_paths = {val.get_data_info(i)["img_path"] for i in range(len(val))}
    assert not train_paths & val_paths
    assert all("/train/good/" in p for p in train_paths | val_paths)
    assert len(train_paths | val_paths) == len(CLASSES) * N_TRAIN
    for cls_name in CLASSES:  # every class has at least one validation image
        assert any(f"/{cls_name}/" in p for p in val_paths)
    info = val.get_data_info(0)
    assert info["gt_label"] == 0 and info["defect_type"] == "good" and info["mask_path"] is None


def test_val_split_is_seeded(mvtec_root: str) -> None:
    def val_paths(seed: int) -> list[str]:
        ds = MVTecDataset(mvtec_root, split="val", val_ratio=0.5, seed=seed)
        return [ds.get_data_info(i)["img_path"] for i in range(len(ds))]

    assert val_paths(0) == val_paths(0)
    assert any(val_paths(0) != val_paths(s) for s in range(1, 6))


def test_val_ratio_zero_gives_empty_val(mvtec_root: str) -> None:
    with pytest.warns(UserWarning, match="val split"):
        assert len(MVTecDataset(mvtec_root, split="val", val_ratio=0.0)) == 0
    assert len(MVTecDataset(mvtec_root, split="train", val_ratio=0.0)) == len(CLASSES) * N_TRAIN


def test_test_labels_and_masks(mvtec_root: str) -> None:
    ds = MVTecDataset(mvtec_root, split="test")
    assert len(ds) == len(CLASSES) * N_TEST
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    good = [r for r in infos if r["defect_type"] == "good"]
    bad = [r for r in infos if r["defect_type"] != "good"]
    assert len(good) == len(CLASSES) * N_TEST_GOOD and all(r["gt_label"] == 0 for r in good)
    assert len(bad) == len(CLASSES) * N_DEFECT * len(DEFECTS) and all(r["gt_label"] == 1 for r in bad)
    assert {r["defect_type"] for r in bad} == set(DEFECTS)
    for r in bad:
        stem = osp.splitext(osp.basename(r["img_path"]))[0]
        assert r["mask_path"].endswith(osp.join("ground_truth", r["defect_type"], f"{stem}_mask.png"))
        assert osp.isfile(r["mask_path"])
    assert all(r["mask_path"] is None for r in good)


def test_classes_argument_and_registry(mvtec_root: str) -> None:
    ds = DATASETS.build(dict(type="MVTecDataset", data_root=mvtec_root, split="test", classes=["carpet"]))
    assert isinstance(ds, MVTecDataset)
    assert ds.metainfo["classes"] == ("carpet",) and len(ds) == N_TEST
    with pytest.raises(FileNotFoundError, match="nope"):
        MVTecDataset(mvtec_root, classes=["nope"])


def test_lazy_init(mvtec_root: str) -> None:
    ds = MVTecDataset(mvtec_root, split="test", lazy_init=True)
    assert not ds._fully_initialized
    assert len(ds) == len(CLASSES) * N_TEST
