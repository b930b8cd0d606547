"""FolderDataset: split form and flat form, masks matched by stem."""

import os

import pytest

from gen3d.datasets import FolderDataset
from tests.helpers.anomaly_data import CLASSES, DEFECTS, N_DEFECT, N_TEST_GOOD, N_TRAIN, make_folder_tree


def _infos(ds: FolderDataset) -> list[dict]:
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_split_form(folder_root: str) -> None:
    train, val = (FolderDataset(folder_root, split=s, val_ratio=0.2) for s in ("train", "val"))
    test = FolderDataset(folder_root, split="test")
    assert test.metainfo["classes"] == CLASSES
    assert len(train) + len(val) == len(CLASSES) * N_TRAIN and len(val) == len(CLASSES)
    assert not {r["img_path"] for r in _infos(train)} & {r["img_path"] for r in _infos(val)}
    infos = _infos(test)
    assert sum(r["gt_label"] == 0 for r in infos) == len(CLASSES) * N_TEST_GOOD
    bad = [r for r in infos if r["gt_label"] == 1]
    assert len(bad) == len(CLASSES) * N_DEFECT * len(DEFECTS)
    assert all(r["mask_path"].endswith("_mask.png") and f"/masks/{r['defect_type']}/" in r["mask_path"] for r in bad)


def test_flat_form(folder_flat_root: str) -> None:
    kw = dict(val_ratio=0.2, normal_test_ratio=0.2, seed=3)
    train, val, test = (FolderDataset(folder_flat_root, split=s, **kw) for s in ("train", "val", "test"))
    assert test.metainfo["classes"] == CLASSES
    n_good = N_TRAIN + N_TEST_GOOD
    n_test_good = round(n_good * 0.2)
    goods = [r["img_path"] for d in (train, val) for r in _infos(d)]
    test_goods = [r["img_path"] for r in _infos(test) if r["gt_label"] == 0]
    assert len(test_goods) == len(CLASSES) * n_test_good
    assert len(goods) == len(CLASSES) * (n_good - n_test_good)
    assert len(set(goods) | set(test_goods)) == len(CLASSES) * n_good  # three disjoint parts
    bad = [r for r in _infos(test) if r["gt_label"] == 1]
    assert {r["defect_type"] for r in bad} == set(DEFECTS)  # the masks folder is not a defect type
    assert all(os.path.basename(r["mask_path"]) == os.path.basename(r["img_path"]) for r in bad)


def test_missing_mask_in_folder_layout(tmp_path) -> None:
    root = make_folder_tree(tmp_path)
    mask = root / "carpet" / "masks" / "hole" / "img_000_mask.png"
    mask.unlink()
    with pytest.raises(FileNotFoundError, match="carpet/test/hole/img_000.png"):
        FolderDataset(str(root), split="test")
    with pytest.warns(UserWarning, match="all-ones"):
        assert len(FolderDataset(str(root), split="test", missing_mask="full")) > 0


def test_empty_class(tmp_path) -> None:
    root = make_folder_tree(tmp_path, flat=True)
    (root / "cable").mkdir()
    with pytest.raises(ValueError, match="cable"):
        FolderDataset(str(root))
