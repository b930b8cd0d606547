"""ImageFolderDataset and the GAN pipeline steps on tiny synthetic folders."""

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate

from gen3d.datasets import ImageFolderDataset
from gen3d.datasets.transforms import GANRandomFlip, GANResizeCrop, LoadGANImage, PackGANInputs
from gen3d.registry import DATASETS


def _write(path, shape, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full(shape, value, np.uint8)
    img[:, : shape[1] // 2] = 255 - value  # left half differs: a flip is visible
    assert cv2.imwrite(str(path), img)


@pytest.fixture
def flat_root(tmp_path):
    root = tmp_path / "flat"
    _write(root / "a.png", (20, 30, 3))
    _write(root / "sub" / "deeper" / "b.jpg", (40, 40))
    _write(root / "c.PNG", (16, 16, 3))
    (root / "notes.txt").write_text("not an image")
    _write(root / ".hidden" / "d.png", (16, 16, 3))
    return root


@pytest.fixture
def class_root(tmp_path):
    root = tmp_path / "classes"
    for name, n in (("zebra", 2), ("cat", 3)):
        for i in range(n):
            _write(root / name / f"{i}.png", (24, 24, 3), value=20 * i)
    (root / "empty").mkdir()
    return root


PIPELINE = [dict(type="LoadGANImage"), dict(type="GANResizeCrop", resolution=16),
            dict(type="GANRandomFlip", prob=0.5, seed=0), dict(type="PackGANInputs")]


def test_unconditional_recursive(flat_root):
    ds = ImageFolderDataset(str(flat_root), pipeline=PIPELINE)
    names = [info["img_path"].split("/")[-1] for info in ds.load_data_list()]
    assert names == ["a.png", "c.PNG", "b.jpg"]  # sorted by path, recursive, hidden / non-images skipped
    assert ds.metainfo["classes"] is None and ds.metainfo["num_classes"] == 0
    for i in range(len(ds)):
        out = ds[i]
        assert out["inputs"].dtype == torch.uint8 and out["inputs"].shape == (3, 16, 16)
        assert out["data_samples"]["gt_label"] == -1 and out["data_samples"]["sample_idx"] == i


def test_conditional_labels_sorted(class_root):
    ds = DATASETS.build(dict(type="ImageFolderDataset", data_root=str(class_root), conditional=True,
                             pipeline=PIPELINE))
    assert ds.metainfo["classes"] == ("cat", "zebra") and ds.metainfo["num_classes"] == 2
    labels = [ds[i]["data_samples"]["gt_label"] for i in range(len(ds))]
    assert labels == [0, 0, 0, 1, 1]
    picked = ImageFolderDataset(str(class_root), conditional=True, classes=["zebra"])
    assert picked.metainfo["classes"] == ("zebra",) and len(picked) == 2


def test_collate_forms(class_root):
    ds = ImageFolderDataset(str(class_root), conditional=True, pipeline=PIPELINE)
    batch = [ds[i] for i in range(4)]
    pseudo = pseudo_collate(batch)
    assert len(pseudo["inputs"]) == 4 and pseudo["data_samples"]["gt_label"] == [0, 0, 0, 1]
    dense = default_collate(batch)
    assert dense["inputs"].shape == (4, 3, 16, 16)
    assert dense["data_samples"]["gt_label"].tolist() == [0, 0, 0, 1]


def test_errors_name_the_path(tmp_path, class_root):
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageFolderDataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        ImageFolderDataset(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="dog"):
        ImageFolderDataset(str(class_root), conditional=True, classes=["dog"])
    _write(class_root / "loose.png", (8, 8, 3))
    with pytest.raises(ValueError, match="loose.png"):
        ImageFolderDataset(str(class_root), conditional=True)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    ds = ImageFolderDataset(str(bad), pipeline=PIPELINE, bad_files="off")  # the loader's error; the build-time
    with pytest.raises(ValueError, match="broken.png"):  # check is tested in test_file_check.py
        ds[0]


def test_grayscale_keeps_one_channel(flat_root):
    ds = ImageFolderDataset(str(flat_root), pipeline=[dict(type="LoadGANImage", color_type="grayscale"),
                                                      dict(type="GANResizeCrop", resolution=8),
                                                      dict(type="PackGANInputs")])
    out = ds[2]  # b.jpg, written grey
    assert out["inputs"].shape == (1, 8, 8)
    with pytest.raises(ValueError, match="color_type"):
        LoadGANImage("rgb")


def test_resize_crop_and_flip():
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, 10:30] = 200  # centre band survives the centre crop
    out = GANResizeCrop(10)({"img": img})["img"]
    assert out.shape == (10, 10, 3) and out.min() > 150
    small = GANResizeCrop(32, keep_ratio=False)({"img": np.zeros((5, 9, 1), np.uint8)})
    assert small["img"].shape == (32, 32, 1) and small["img_shape"] == (32, 32)
    ramp = np.tile(np.arange(8, dtype=np.uint8), (8, 1))[:, :, None]
    flipped = GANRandomFlip(prob=1.0)({"img": ramp.copy()})
    assert flipped["flip"] and np.array_equal(flipped["img"][:, :, 0], ramp[:, ::-1, 0])
    kept = GANRandomFlip(prob=0.0)({"img": ramp.copy()})
    assert not kept["flip"] and np.array_equal(kept["img"], ramp)


def test_pack_rejects_float():
    with pytest.raises(ValueError, match="uint8"):
        PackGANInputs()({"img": np.zeros((4, 4, 3), np.float32)})
