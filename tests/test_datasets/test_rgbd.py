"""RGBDDataset: the official and the metric layouts load to the same tensors; refusals name the file or the key."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from gen3d.datasets import BadFilesError, DatasetError, MissingDataError, RGBDDataset
from gen3d.datasets.rooms_synthesis import DEPTH_FAR, build_rooms_dataset, sample_view
from gen3d.datasets.transforms.rgbd_transforms import PackRGBDInputs
from gen3d.models.gans.data_preprocessor import GANDataPreprocessor
from gen3d.registry import DATASETS

PIPELINE = [dict(type="LoadGANImage"), dict(type="LoadRGBDDepth"), dict(type="PackRGBDInputs")]
SIZE, NUM = 16, 3


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    base = tmp_path_factory.mktemp("rgbd")
    return {name: build_rooms_dataset(base / name, num=NUM, size=SIZE, seed=2, **kw) for name, kw in
            {"png": {}, "npy": dict(depth_format="npy"), "depthgan": dict(layout="depthgan")}.items()}


@pytest.fixture
def root(layouts, tmp_path):
    return shutil.copytree(layouts["png"], tmp_path / "set")


def _build(root, **kw):
    return DATASETS.build(dict(type="RGBDDataset", data_root=str(root), pipeline=kw.pop("pipeline", PIPELINE), **kw))


def test_both_layouts_load_to_the_same_tensors(layouts):
    sets = {name: _build(path) for name, path in layouts.items()}
    assert sets["depthgan"].get_data_info(0)["depth_encoding"] == "depthgan"
    assert sets["png"].get_data_info(0)["depth_encoding"] == "metric"
    for i in range(NUM):
        truth = 2 * sample_view(2, i, SIZE)[0].depth / DEPTH_FAR - 1  # planar depth normalised to [-1, 1]
        samples = {name: ds[i] for name, ds in sets.items()}
        for name, s in samples.items():
            assert s["inputs"].dtype == torch.uint8 and s["inputs"].shape == (3, SIZE, SIZE)
            assert torch.equal(s["inputs"], samples["npy"]["inputs"]), name
            depth = s["data_samples"]["depth"]
            assert depth.shape == (1, SIZE, SIZE) and depth.dtype == torch.float32
            np.testing.assert_allclose(depth[0].numpy(), truth, atol=1e-4, err_msg=name)  # 16-bit steps: ~3e-5
        np.testing.assert_array_equal(samples["npy"]["data_samples"]["depth"][0].numpy(), truth.astype(np.float32))
    batch = GANDataPreprocessor()(pseudo_collate([sets["depthgan"][0], sets["depthgan"][1]]))
    assert batch["real_depth"].shape == (2, 1, SIZE, SIZE) and batch["inputs"].shape == (2, 3, SIZE, SIZE)
    assert -1 <= batch["real_depth"].min() and batch["real_depth"].max() <= 1


def test_official_encoding_by_hand(tmp_path):
    """A hand-written official tree (no rgbd.json): depth (v - 30000) / 30000, RGB as written."""
    (tmp_path / "rgb").mkdir(), (tmp_path / "depth").mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    raw = np.array([[0, 30000, 60000, 65535, 15000, 45000, 1]] * 5, np.uint16)
    cv2.imwrite(str(tmp_path / "rgb" / "a.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "depth" / "a.png"), raw)
    sample = _build(tmp_path)[0]
    np.testing.assert_array_equal(sample["inputs"].permute(1, 2, 0).numpy(), rgb)
    np.testing.assert_allclose(sample["data_samples"]["depth"][0].numpy(), (raw - 30000.0) / 30000.0, atol=1e-6)
    cv2.imwrite(str(tmp_path / "depth" / "a.png"), (raw // 256).astype(np.uint8))
    with pytest.raises(ValueError, match=r"depth/a\.png is uint8"):
        _build(tmp_path)[0]


def test_annotation_pairs(layouts, tmp_path):
    root = shutil.copytree(layouts["depthgan"], tmp_path / "set")
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(dict(rgb_paths=["rgb/room_00001.png", "rgb/room_00000.png"],
                                   depth_paths=["depth/room_00000.png", "depth/room_00001.png"])))
    ds = _build(root, annotation=str(ann))
    assert len(ds) == 2 and ds.get_data_info(1)["depth_path"].endswith("room_00001.png")
    ann.write_text(json.dumps(dict(rgb_paths=["rgb/room_00000.png"], depth_paths=["depth/room_00002.png"])))
    with pytest.raises(DatasetError, match=r"rgb/room_00000\.png with .*depth/room_00002\.png"):
        _build(root, annotation=str(ann))
    ann.write_text(json.dumps(dict(rgb_paths=["../outside.png"], depth_paths=["depth/room_00000.png"])))
    with pytest.raises(DatasetError, match=r"'\.\./outside\.png' is not a path inside"):
        _build(root, annotation=str(ann))


def test_missing_orphan_and_mismatched_depth_name_the_file(root):
    (root / "depth" / "room_00001.png").unlink()
    with pytest.raises(MissingDataError, match=r"depth/room_00001\.png \(for .*rgb/room_00001\.png\)"):
        _build(root)
    cv2.imwrite(str(root / "depth" / "room_00001.png"), np.zeros((SIZE, SIZE + 1), np.uint16))
    with pytest.raises(DatasetError, match=r"depth/room_00001\.png is 16x17 \(HxW\) but its image"):
        _build(root)
    (root / "depth" / "room_00001.png").unlink()
    (root / "rgb" / "room_00001.png").unlink()
    np.save(root / "depth" / "room_00001.npy", np.ones((SIZE, SIZE), np.float32))
    with pytest.raises(DatasetError, match=r"depth/room_00001\.npy has no image of its stem"):
        _build(root)
    np.save(root / "depth" / "room_00000.npy", np.ones((SIZE, SIZE), np.float32))
    with pytest.raises(DatasetError, match=r"two files of stem 'room_00000'"):
        _build(root)


def test_depth_asked_from_a_set_without_it_names_the_key(root):
    shutil.rmtree(root / "depth")
    with pytest.raises(MissingDataError, match=r"with_depth=True but .*depth does not exist"):
        _build(root)
    with pytest.raises(ValueError, match=r"asks for depth \(LoadRGBDDepth\(\)\).*with_depth=False"):
        _build(root, with_depth=False)
    rgb_only = [dict(type="LoadGANImage"), dict(type="PackRGBDInputs", require_depth=False)]
    sample = _build(root, with_depth=False, pipeline=rgb_only)[0]
    assert "depth" not in sample["data_samples"] and sample["inputs"].shape == (3, SIZE, SIZE)
    with pytest.raises(KeyError, match="found no 'depth'"):
        PackRGBDInputs()(dict(img=np.zeros((2, 2, 3), np.uint8), img_path="x.png"))


def test_metric_settings_name_the_key(root):
    meta = json.loads((root / "rgbd.json").read_text())
    (root / "rgbd.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "depth_range"}))
    with pytest.raises(DatasetError, match="needs depth_range"):
        _build(root)
    assert len(_build(root, depth_range=(0.0, DEPTH_FAR))) == NUM
    (root / "rgbd.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "depth_scale"}))
    with pytest.raises(DatasetError, match="need a depth_scale"):
        _build(root)
    (root / "rgbd.json").write_text(json.dumps(dict(meta, depth_kind="ray")))
    with pytest.raises(DatasetError, match="rgbd.json: depth_kind 'ray'"):
        _build(root)
    (root / "rgbd.json").write_text(json.dumps(dict(meta, scale=1)))
    with pytest.raises(DatasetError, match=r"unknown key\(s\) \['scale'\]"):
        _build(root)
    with pytest.raises(MissingDataError, match="unzip the official archive"):
        RGBDDataset(str(root) + ".zip")


def test_bad_files_and_flip(root):
    (root / "depth" / "room_00002.png").write_bytes(b"")
    with pytest.raises(BadFilesError, match=r"depth file .*room_00002\.png: empty file"):
        _build(root)
    assert len(_build(root, bad_files="skip")) == NUM - 1
    flip = [dict(type="LoadGANImage"), dict(type="LoadRGBDDepth"), dict(type="PoseRandomFlip", prob=1.0),
            dict(type="PackRGBDInputs")]
    plain, flipped = _build(root, bad_files="skip")[0], _build(root, bad_files="skip", pipeline=flip)[0]
    assert torch.equal(flipped["inputs"], plain["inputs"].flip(-1)) and flipped["data_samples"]["flip"]
    assert torch.equal(flipped["data_samples"]["depth"], plain["data_samples"]["depth"].flip(-1))


def test_rgbd_resize_crop_keeps_image_and_depth_aligned():
    import numpy as np

    from gen3d.datasets.transforms import RGBDResizeCrop

    cols = np.arange(60, dtype=np.float32)
    img = np.repeat(np.tile(cols * 4, (40, 1))[..., None], 3, axis=2).astype(np.uint8)  # grey = 4 * column
    depth = np.tile(cols / 59 * 2 - 1, (40, 1)).astype(np.float32)  # depth = the same column, in [-1, 1]
    out = RGBDResizeCrop(16)({"img": img, "depth": depth})
    assert out["img"].shape == (16, 16, 3) and out["depth"].shape == (16, 16) and out["depth"].dtype == np.float32
    from_img = out["img"][..., 0].astype(np.float32) / 4 / 59 * 2 - 1  # the column each pixel shows
    assert np.abs(from_img - out["depth"]).max() < 0.03  # same crop (a side crop would be off by > 0.3)
    assert abs(float(out["depth"].mean())) < 0.02  # the centre, not a side
    nearest = RGBDResizeCrop(16, depth_interpolation="nearest")({"img": img, "depth": depth})["depth"]
    assert set(np.unique(nearest)) <= set(np.unique(depth))  # only depths that exist
    with pytest.raises(KeyError, match="LoadRGBDDepth"):
        RGBDResizeCrop(16)({"img": img})
    with pytest.raises(ValueError, match="differ in size"):
        RGBDResizeCrop(16)({"img": img, "depth": depth[:, :30]})
