"""AnomalyDataset behaviour shared by every layout: argument checks, empty classes, missing masks."""

import os

import pytest

from gen3d.datasets import MVTecDataset
from gen3d.datasets.transforms import LoadAnomalyImage, LoadAnomalyMask
from tests.helpers.anomaly_data import CLASSES, N_TEST, N_TRAIN, make_mvtec_tree


def test_missing_data_root_names_it(tmp_path) -> None:
    missing = str(tmp_path / "no_such_root")
    with pytest.raises(FileNotFoundError, match="no_such_root"):
        MVTecDataset(missing)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="validation"), "split"),
        (dict(val_ratio=1.0), "val_ratio"),
        (dict(missing_mask="ignore"), "missing_mask"),
    ],
)
def test_bad_arguments(mvtec_root: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MVTecDataset(mvtec_root, **kwargs)


def test_root_without_classes(tmp_path) -> None:
    with pytest.raises(ValueError, match="no class folder"):
        MVTecDataset(str(tmp_path))


def test_empty_class_folder_error_and_skip(tmp_path) -> None:
    root = make_mvtec_tree(tmp_path)
    (root / "zipper" / "train" / "good").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"zipper.*train.good"):
        MVTecDataset(str(root), split="train")
    with pytest.raises(ValueError, match="zipper"):
        MVTecDataset(str(root), split="test")
    with pytest.warns(UserWarning, match="zipper"):
        ds = MVTecDataset(str(root), split="train", val_ratio=0.0, skip_empty_classes=True)
    assert ds.metainfo["classes"] == CLASSES
    assert len(ds) == len(CLASSES) * N_TRAIN


def test_missing_mask_error_names_image_and_mask(tmp_path) -> None:
    root = make_mvtec_tree(tmp_path)
    mask = root / "bottle" / "ground_truth" / "crack" / "001_mask.png"
    os.remove(mask)
    with pytest.raises(FileNotFoundError) as err:
        MVTecDataset(str(root), split="test")
    assert "bottle/test/crack/001.png" in str(err.value) and str(mask) in str(err.value)
    # The train split does not need the masks.
    assert len(MVTecDataset(str(root), split="train")) > 0


@pytest.mark.parametrize("policy, value", [("full", 1), ("empty", 0)])
def test_missing_mask_policies(tmp_path, policy: str, value: int) -> None:
    root = make_mvtec_tree(tmp_path)
    os.remove(root / "bottle" / "ground_truth" / "crack" / "001_mask.png")
    with pytest.warns(UserWarning, match="1 defective image"):
        ds = MVTecDataset(str(root), split="test", missing_mask=policy, classes=["bottle"])
    assert len(ds) == N_TEST
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    info = next(r for r in infos if r["img_path"].endswith("crack/001.png"))
    assert info["mask_path"] is None and info["gt_label"] == 1
    out = LoadAnomalyMask()(LoadAnomalyImage()(info))
    assert (out["gt_mask"] == value).all()


def test_corrupt_image_names_file(tmp_path) -> None:
    root = make_mvtec_tree(tmp_path)
    bad = root / "bottle" / "test" / "good" / "000.png"
    bad.write_bytes(b"\x89PNG garbage, not an image at all" * 3)
    # the loader's own error (bad_files='off': the build-time check, tested in test_file_check.py, would refuse it)
    ds = MVTecDataset(str(root), split="test", classes=["bottle"], pipeline=[dict(type="LoadAnomalyImage")],
                      bad_files="off")
    idx = next(i for i in range(len(ds)) if ds.get_data_info(i)["img_path"] == str(bad))
    with pytest.raises(ValueError, match=str(bad)):
        ds[idx]
