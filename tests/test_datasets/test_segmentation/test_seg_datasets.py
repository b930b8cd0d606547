"""Segmentation dataset layouts: VOC (+ U2PL partitions), Cityscapes, GTA5, COCO, generic folder; clear errors."""

import os.path as osp
import shutil

import numpy as np
import pytest

from gen3d.datasets.segmentation import (
    CityscapesDataset,
    CocoSegDataset,
    FolderSegDataset,
    GTA5Dataset,
    SegDataset,
    VOCDataset,
    voc_partition,
    write_split,
)
from gen3d.datasets.transforms import LoadSegImage, LoadSegMask
from gen3d.registry import DATASETS
from tests.helpers import seg_data as sd

LOAD = [dict(type="LoadSegImage"), dict(type="LoadSegMask")]


def infos(ds):
    """The records of a (serialised) dataset."""
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_all_registered():
    for name in ("SegDataset", "VOCDataset", "CityscapesDataset", "GTA5Dataset", "CocoSegDataset",
                 "FolderSegDataset", "SemiSupervisedDataset"):
        assert DATASETS.get(name) is not None, name


def test_voc_named_splits_and_masks(voc_root):
    train = VOCDataset(voc_root, split="train", pipeline=LOAD)
    assert len(train) == 3 and len(train.metainfo["classes"]) == 21
    assert train.ann_dir == "SegmentationClassAug"
    item = train[1]
    assert item["img"].shape == (sd.H, sd.W, 3)
    np.testing.assert_array_equal(item["gt_seg_map"], sd.label_map(1, 21))
    assert len(VOCDataset(voc_root, split="val")) == 2
    assert len(VOCDataset(voc_root, split="trainaug")) == 4


def test_voc_palette_masks_read_as_indices(voc_root):
    ds = VOCDataset(voc_root, split="train", ann_dir="SegmentationClass", pipeline=LOAD)
    np.testing.assert_array_equal(ds[2]["gt_seg_map"], sd.label_map(2, 21))


def test_voc_u2pl_partition_files(voc_root):
    lab = VOCDataset(voc_root, split=osp.join(voc_root, "splits/pascal/2/labeled.txt"))
    unl = VOCDataset(voc_root, split="splits/pascal/2/unlabeled.txt", labeled=False)
    assert [osp.basename(d["img_path"]) for d in infos(lab)] == [f"{i}.jpg" for i in sd.VOC_TRAIN[:2]]
    assert len(unl) == 2 and all(d["seg_map_path"] is None and not d["labeled"] for d in infos(unl))


@pytest.mark.parametrize("mode", ["classic", "blender"])
def test_voc_partition_draw(mode, tmp_path):
    train = [f"t{i}" for i in range(10)]
    aug = train + [f"a{i}" for i in range(30)]
    lab, unl = voc_partition(train, aug, 4, mode=mode, seed=1)
    assert len(lab) == 4 and len(unl) == 36 and not set(lab) & set(unl)
    if mode == "classic":
        assert set(lab) <= set(train)
    assert voc_partition(train, aug, 4, mode=mode, seed=1) == (lab, unl)
    path = write_split(tmp_path / "p" / "labeled.txt", lab)
    assert path.read_text().split() == lab
    with pytest.raises(ValueError, match="n_labeled"):
        voc_partition(train, aug, 11, mode="classic")


def test_cityscapes_subset_scan_and_train_ids(cityscapes_root):
    ds = CityscapesDataset(cityscapes_root, split="train", pipeline=LOAD)
    assert len(ds) == 4 and len(ds.metainfo["classes"]) == 19
    assert infos(ds)[0]["seg_map_path"].endswith("aachen_000000_000000_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(ds[3]["gt_seg_map"], sd.label_map(3, 19))
    assert len(CityscapesDataset(cityscapes_root, split="val")) == 2


def test_cityscapes_u2pl_split_lines(cityscapes_root):
    lab = CityscapesDataset(cityscapes_root, split="splits/labeled.txt")
    assert [d["seg_map_path"].split("/")[-1] for d in infos(lab)] == [
        f"{n}_gtFine_labelTrainIds.png" for _, n in sd.cityscapes_names("train")[:2]]
    unl = CityscapesDataset(cityscapes_root, split="splits/unlabeled.txt", labeled=False)  # bare names
    assert len(unl) == 2 and infos(unl)[0]["img_path"].endswith("_leftImg8bit.png")


def test_gta5_id_mapping(gta5_root):
    ds = GTA5Dataset(gta5_root, pipeline=LOAD)
    assert len(ds) == sd.GTA5_N and ds.metainfo["classes"][13] == "car"
    raw = sd.gta5_raw_label(0)
    expected = np.full_like(raw, 255)
    expected[raw == 7] = 0
    expected[raw == 26] = 13
    expected[raw == 33] = 18
    np.testing.assert_array_equal(ds[0]["gt_seg_map"], expected)


def test_coco_polygons_rle_crowd(coco_seg_tree):
    root, expected = coco_seg_tree
    ds = CocoSegDataset(root, pipeline=LOAD)
    assert ds.metainfo["classes"] == ("background", "dog", "cat")
    for i in range(len(ds)):
        item = ds[i]
        np.testing.assert_array_equal(item["gt_seg_map"], expected[osp.basename(item["img_path"])])
    no_bg = CocoSegDataset(root, with_background=False, classes=["cat"], pipeline=LOAD)
    assert no_bg.metainfo["classes"] == ("cat",)
    mask = no_bg[0]["gt_seg_map"]
    assert set(np.unique(mask)) == {0, 255}
    with pytest.raises(FileNotFoundError, match="nope.json"):
        CocoSegDataset(root, ann_file="nope.json")


def test_folder_layout_labeled_unlabeled_val(folder_seg_root):
    lab = FolderSegDataset(folder_seg_root, split="labeled", pipeline=LOAD)
    assert lab.metainfo["classes"] == sd.FOLDER_CLASSES and len(lab) == 3
    assert {osp.splitext(d["img_path"])[1] for d in infos(lab)} == {".jpg", ".png"}
    unl = FolderSegDataset(folder_seg_root, split="unlabeled", pipeline=LOAD)
    assert len(unl) == 5 and "gt_seg_map" not in unl[0]
    assert len(FolderSegDataset(folder_seg_root, split="val")) == 2


def test_error_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FolderSegDataset(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VOCDataset(str(tmp_path / "nowhere"))


def test_error_missing_split_file(folder_seg_root, voc_root):
    with pytest.raises(FileNotFoundError, match=r"splits/test\.txt"):
        FolderSegDataset(folder_seg_root, split="test")
    with pytest.raises(FileNotFoundError, match="extra"):
        VOCDataset(voc_root, split="extra")


def test_error_image_without_mask(tmp_path, folder_seg_root):
    root = tmp_path / "copy"
    shutil.copytree(folder_seg_root, root)
    with pytest.raises(FileNotFoundError, match=r"u0.*expected mask .*masks/u0\.png"):
        FolderSegDataset(str(root), split="unlabeled", labeled=True)
    (root / "masks" / "a1.png").unlink()
    with pytest.raises(FileNotFoundError, match="a1"):
        FolderSegDataset(str(root), split="labeled")
    sd.write_lines(root / "splits" / "ghost.txt", ["ghost"])
    with pytest.raises(FileNotFoundError, match="ghost"):
        FolderSegDataset(str(root), split="ghost")


def test_error_mask_size_mismatch(tmp_path, folder_seg_root):
    root = tmp_path / "copy"
    shutil.copytree(folder_seg_root, root)
    sd.write_grey(root / "masks" / "a0.png", np.zeros((sd.H + 2, sd.W), np.uint8))
    with pytest.raises(ValueError, match=r"a0\.png.*32x26.*a0\.jpg.*32x24"):
        FolderSegDataset(str(root), split="labeled", check_masks=True)
    ds = FolderSegDataset(str(root), split="labeled", pipeline=LOAD)
    with pytest.raises(ValueError, match="a0.png"):
        ds[0]
    resized = FolderSegDataset(str(root), split="labeled",
                               pipeline=[LoadSegImage(), LoadSegMask(size_mismatch="resize")])
    with pytest.warns(UserWarning, match="nearest"):
        assert resized[0]["gt_seg_map"].shape == (sd.H, sd.W)


def test_colour_mask_is_refused(tmp_path, folder_seg_root):
    root = tmp_path / "copy"
    shutil.copytree(folder_seg_root, root)
    sd.write_rgb(root / "masks" / "a0.png", sd.image(0))
    ds = FolderSegDataset(str(root), split="labeled", pipeline=LOAD)
    with pytest.raises(ValueError, match="colour"):
        ds[0]


def test_base_reduce_zero_label_and_label_map(folder_seg_root):
    ds = SegDataset(folder_seg_root, split="labeled", reduce_zero_label=True, classes=("x", "y"), pipeline=LOAD)
    raw = sd.label_map(0, 3)
    expected = raw.astype(np.int16) - 1
    expected[(raw == 0) | (raw == 255)] = 255
    np.testing.assert_array_equal(ds[0]["gt_seg_map"], expected.astype(np.uint8))
    mapped = SegDataset(folder_seg_root, split="labeled", label_map={2: 1}, label_map_default=255, pipeline=LOAD)
    out = mapped[0]["gt_seg_map"]
    assert set(np.unique(out)) == {1, 255} and np.all(out[raw == 2] == 1)
