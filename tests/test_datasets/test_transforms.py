"""Loading, Albu and packing transforms, and the whole pipeline on a dataset."""

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from gen3d.datasets import MVTecDataset
from gen3d.datasets.transforms import Albu, LoadAnomalyImage, LoadAnomalyMask, PackAnomalyInputs
from gen3d.registry import TRANSFORMS
from gen3d.structures.anomaly_sample import AnomalyDataSample

PIPELINE = [
    dict(type="LoadAnomalyImage"),
    dict(type="LoadAnomalyMask"),
    dict(type="Albu", transforms=[dict(type="Resize", height=24, width=20)]),
    dict(type="PackAnomalyInputs"),
]


def _write(path, img: np.ndarray) -> str:
    assert cv2.imwrite(str(path), img)
    return str(path)


@pytest.mark.parametrize(
    "name, img",
    [
        ("gray.png", np.full((7, 9), 100, np.uint8)),
        ("gray1.tiff", np.full((7, 9, 1), 100, np.uint8)),
        ("rgba.png", np.dstack([np.full((7, 9), c, np.uint8) for c in (10, 20, 30, 0)])),
        ("bgr.bmp", np.dstack([np.full((7, 9), c, np.uint8) for c in (10, 20, 30)])),
        ("deep.png", np.full((7, 9, 3), 257 * 40, np.uint16)),
    ],
)
def test_load_image_gives_rgb_uint8(tmp_path, name: str, img: np.ndarray) -> None:
    out = LoadAnomalyImage()({"img_path": _write(tmp_path / name, img)})
    assert out["img"].shape == (7, 9, 3) and out["img"].dtype == np.uint8
    assert out["img_shape"] == out["ori_shape"] == (7, 9)
    if name in ("rgba.png", "bgr.bmp"):
        assert out["img"][0, 0].tolist() == [30, 20, 10]  # BGR(A) -> RGB, alpha dropped
    if name == "deep.png":
        assert (out["img"] == 40).all()


def test_load_image_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="broken.jpg"):
        LoadAnomalyImage()({"img_path": str(bad)})
    with pytest.raises(FileNotFoundError, match="absent.png"):
        LoadAnomalyImage()({"img_path": str(tmp_path / "absent.png")})


def test_mask_binarised_resized_with_warning(tmp_path) -> None:
    img = _write(tmp_path / "a.png", np.zeros((20, 30, 3), np.uint8))
    small = np.zeros((10, 15), np.uint8)
    small[2:6, 3:9] = 255
    mask = _write(tmp_path / "a_mask.png", small)
    results = LoadAnomalyImage()({"img_path": img, "mask_path": mask})
    with pytest.warns(UserWarning, match="a_mask.png"):
        out = LoadAnomalyMask()(results)
    assert out["gt_mask"].shape == (20, 30) and out["gt_mask"].dtype == np.uint8
    assert set(np.unique(out["gt_mask"]).tolist()) == {0, 1} and out["gt_mask"].sum() == 4 * 6 * 4
    normal = LoadAnomalyMask()(LoadAnomalyImage()({"img_path": img, "mask_path": None}))
    assert normal["gt_mask"].shape == (20, 30) and not normal["gt_mask"].any()
    with pytest.raises(KeyError, match="LoadAnomalyImage"):
        LoadAnomalyMask()({"img_path": img})


def test_albu_joint_resize_keeps_mask_binary() -> None:
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 1
    out = Albu([dict(type="Resize", height=16, width=12)])({"img": img, "gt_mask": mask})
    assert out["img"].shape == (16, 12, 3) and out["gt_mask"].shape == (16, 12) and out["img_shape"] == (16, 12)
    assert set(np.unique(out["gt_mask"]).tolist()) == {0, 1}
    flip = Albu([dict(type="OneOf", transforms=[dict(type="HorizontalFlip", p=1.0)], p=1.0)])
    assert (flip({"img": img, "gt_mask": mask})["img"] == img[:, ::-1]).all()
    with pytest.raises(ValueError, match="interpolaton"):
        Albu([dict(type="Resize", height=16, width=12, interpolaton=0)])
    with pytest.raises(ValueError, match="Resize"):
        Albu([dict(type="Resize", width=12)])
    with pytest.raises(ValueError, match="NoSuchTransform"):
        Albu([dict(type="NoSuchTransform")])


def test_pack_inputs() -> None:
    results = {
        "img": np.zeros((5, 6, 3), np.uint8),
        "gt_mask": np.ones((5, 6), np.uint8),
        "gt_label": 1,
        "img_path": "x.png",
        "cls_name": "bottle",
        "defect_type": "crack",
        "ori_shape": (10, 12),
        "img_shape": (5, 6),
    }
    out = PackAnomalyInputs()(results)
    assert out["inputs"].shape == (3, 5, 6) and out["inputs"].dtype == torch.uint8
    sample = out["data_samples"]
    assert isinstance(sample, AnomalyDataSample)
    assert sample.gt_label.dtype == torch.long and sample.gt_label.ndim == 0 and int(sample.gt_label) == 1
    assert sample.gt_mask.shape == (5, 6) and sample.gt_mask.dtype == torch.uint8
    assert sample.metainfo == dict(
        img_path="x.png", cls_name="bottle", defect_type="crack", ori_shape=(10, 12), img_shape=(5, 6)
    )


def test_transforms_registered() -> None:
    for name in ("LoadAnomalyImage", "LoadAnomalyMask", "Albu", "PackAnomalyInputs"):
        assert TRANSFORMS.get(name) is not None


def test_pipeline_end_to_end(mvtec_root: str) -> None:
    ds = MVTecDataset(mvtec_root, split="test", pipeline=PIPELINE)
    items = [ds[i] for i in range(len(ds))]
    for item in items:
        sample = item["data_samples"]
        assert item["inputs"].shape == (3, 24, 20) and item["inputs"].dtype == torch.uint8
        assert sample.gt_mask.shape == (24, 20) and sample.img_shape == (24, 20)
        assert sample.ori_shape in ((48, 48), (40, 32))  # bottle RGB, carpet grayscale (loaded as RGB)
        assert int(sample.gt_label) == int(sample.defect_type != "good")
        assert bool(sample.gt_mask.any()) == bool(sample.gt_label)
    batch = pseudo_collate(items[:3])
    assert len(batch["inputs"]) == 3 and len(batch["data_samples"]) == 3
