"""PoseImageDataset: the layout round-trips the synthetic 3D set, refusals name the file, flips keep geometry."""

import json
import math
import shutil

import cv2
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate

from gen3d.datasets import BadFilesError, DatasetError, MissingDataError
from gen3d.datasets.gan import PoseImageDataset
from gen3d.datasets.shape3d_synthesis import Primitive, build_shape3d_dataset, render_view, sample_view
from gen3d.datasets.transforms import GANRandomFlip, LoadGANImage, LoadPoseGeometry, PackPoseInputs, PoseRandomFlip
from gen3d.datasets.transforms.pose_transforms import decode_normal, encode_normal
from gen3d.registry import DATASETS

ALL = ("pose", "depth", "normal", "mask")
PIPELINE = [dict(type="LoadGANImage"), dict(type="LoadPoseGeometry"), dict(type="PackPoseInputs")]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_shape3d_dataset(tmp_path_factory.mktemp("shapes"), num=5, size=16, seed=1)


@pytest.fixture
def root(source, tmp_path):
    return shutil.copytree(source, tmp_path / "set")


def _poses(root):
    return json.loads((root / "poses.json").read_text())


def _write_poses(root, meta):
    (root / "poses.json").write_text(json.dumps(meta))


def test_round_trip_of_the_synthetic_set(source):
    ds = DATASETS.build(dict(type="PoseImageDataset", data_root=str(source), require=ALL, pipeline=PIPELINE))
    assert len(ds) == 5 and ds.metainfo["num_classes"] == 5 and ds.metainfo["classes"][0] == "snowman"
    meta = _poses(source)
    for i in range(5):
        sample = ds[i]["data_samples"]
        entry = meta["poses"][f"shape_{i:05d}"]
        assert sample["gt_label"] == entry["label"] == i
        assert (sample["yaw"], sample["pitch"], sample["radius"], sample["fov"]) == tuple(
            entry[k] for k in ("yaw", "pitch", "radius", "fov"))
        assert sample["pose"].tolist() == pytest.approx([entry["pitch"], entry["yaw"]])
        view, pose = sample_view(1, i, 16)  # the rendered truth: depth to 16-bit precision, normals to 8-bit
        assert pose == entry
        np.testing.assert_allclose(sample["depth"][0].numpy(), view.depth, atol=1 / meta["depth_scale"])
        np.testing.assert_array_equal(sample["mask"][0].numpy(), view.mask.astype(np.float32))
        n = sample["normal"].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(n, view.normal, atol=0.012)
        assert np.allclose(np.linalg.norm(n[view.mask], axis=-1), 1, atol=1e-5)
    batch = pseudo_collate([ds[0], ds[1]])
    assert batch["data_samples"]["depth"][0].shape == (1, 16, 16) and len(batch["inputs"]) == 2


def test_npy_depth_and_images_alone(tmp_path):
    root = build_shape3d_dataset(tmp_path / "npy", num=2, size=16, depth_format="npy")
    ds = PoseImageDataset(str(root), require=("depth",), pipeline=PIPELINE)
    assert ds[0]["data_samples"]["depth"].dtype.is_floating_point and "yaw" not in ds[0]["data_samples"]
    shutil.rmtree(root / "depth"), shutil.rmtree(root / "normal"), (root / "poses.json").unlink()
    ds = PoseImageDataset(str(root), require=(), pipeline=PIPELINE)  # no geometry needed: images alone are fine
    assert len(ds) == 2 and set(ds[0]["data_samples"]) >= {"gt_label", "img_path"}
    assert "depth" not in ds[0]["data_samples"] and ds.get_data_info(0)["gt_label"] == -1


def test_normal_codec():
    n = np.array([[[0, 0, 1.0], [0.6, -0.8, 0], [0, 0, 0]]])
    rgb = encode_normal(n)
    assert rgb[0, 2].tolist() == [0, 0, 0]
    np.testing.assert_allclose(decode_normal(rgb), n, atol=0.01)
    assert decode_normal(np.full((1, 1, 3), 128, np.uint8)).tolist() == [[[0, 0, 0]]]


@pytest.mark.parametrize("damage,error,names", [
    (lambda r: (r / "depth/shape_00002.png").unlink(), MissingDataError, "depth/shape_00002.png"),
    (lambda r: shutil.copy(r / "normal/shape_00000.png", r / "normal/shape_09999.png"), DatasetError,
     "normal/shape_09999.png"),
    (lambda r: np.save(r / "depth/shape_00001.npy", np.zeros((16, 16))), DatasetError, "shape_00001"),
    (lambda r: cv2.imwrite(str(r / "mask/shape_00003.png"), np.zeros((16, 15), np.uint8)), DatasetError,
     "mask/shape_00003.png"),
    (lambda r: shutil.rmtree(r / "mask"), MissingDataError, "mask"),
    (lambda r: (r / "poses.json").unlink(), MissingDataError, "poses.json"),
])
def test_missing_or_mismatched_files_are_refused_by_name(root, damage, error, names):
    damage(root)
    with pytest.raises(error, match=names):
        PoseImageDataset(str(root), require=ALL)


def _edit_poses(root, edit):
    meta = _poses(root)
    edit(meta)
    _write_poses(root, meta)


@pytest.mark.parametrize("edit,error,match", [
    (lambda m: m["poses"].pop("shape_00004"), MissingDataError, "no pose .*'shape_00004'"),
    (lambda m: m["poses"].update(shape_00077=dict(m["poses"]["shape_00000"])), DatasetError,
     "without an image.*'shape_00077'"),
    (lambda m: m["poses"]["shape_00001"].update(roll=0.1), DatasetError,
     r"'shape_00001' has unknown key\(s\) \['roll'\]"),
    (lambda m: m["poses"]["shape_00001"].pop("fov"), DatasetError, r"'shape_00001' lacks \['fov'\]"),
    (lambda m: m["poses"]["shape_00002"].update(yaw=float("nan")), DatasetError, "yaw must be a finite number"),
    (lambda m: m.update(focal=1.0), DatasetError, r"unknown top-level key\(s\) \['focal'\]"),
    (lambda m: m.update(version=2), DatasetError, "version 2"),
    (lambda m: m.pop("depth_scale"), DatasetError, "need a depth_scale"),
])
def test_bad_poses_file_is_refused(root, edit, error, match):
    _edit_poses(root, edit)
    with pytest.raises(error, match=match) as info:
        PoseImageDataset(str(root), require=ALL)
    assert "poses.json" in str(info.value)


def test_depth_scale_argument_and_unrequired_kinds(root):
    _edit_poses(root, lambda m: m.pop("depth_scale"))
    (root / "normal/shape_00001.png").unlink()  # normals are not required: an incomplete folder is fine
    ds = PoseImageDataset(str(root), require=("pose", "depth"), depth_scale=32767.0, pipeline=PIPELINE)
    assert "normal" not in ds[1]["data_samples"] and ds[1]["data_samples"]["depth"].max() > 0.8


def test_bad_files_policy(root):
    data = (root / "normal/shape_00002.png").read_bytes()
    (root / "normal/shape_00002.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFilesError, match="normal/shape_00002.png"):
        PoseImageDataset(str(root), require=ALL)
    ds = PoseImageDataset(str(root), require=ALL, bad_files="skip")
    stems = [ds.get_data_info(i)["stem"] for i in range(len(ds))]
    assert stems == ["shape_00000", "shape_00001", "shape_00003", "shape_00004"]
    assert len(PoseImageDataset(str(root), require=("pose", "depth"))) == 5  # the bad file is not needed


def test_flip_mirrors_the_world_consistently():
    """Flipping a view equals rendering the object mirrored in x = 0 from yaw pi - yaw."""
    a, b = np.array([0.9, 0.3, 0.2]), np.array([0.2, 0.4, 0.9])
    obj = [Primitive("sphere", np.array([0.35, 0.1, 0.2]), np.eye(3), (0.3,), a),
           Primitive("box", np.array([-0.3, -0.1, -0.1]), np.eye(3), (0.2, 0.3, 0.25), b)]
    mirrored = [p._replace(centre=p.centre * [-1, 1, 1]) for p in obj]
    yaw, pitch = 1.2, 1.35
    view = render_view(obj, yaw, pitch, size=24)
    results = dict(img=view.image.copy(), depth=view.depth.copy(), normal=view.normal.copy(),
                   mask=view.mask.astype(np.float32), yaw=yaw, pitch=pitch, radius=1.0, fov=12.0, img_path="x")
    out = PoseRandomFlip(prob=1.0)(results)
    assert out["yaw"] == pytest.approx(math.pi - yaw) and out["flip"]
    truth = render_view(mirrored, out["yaw"], pitch, size=24)
    np.testing.assert_allclose(out["depth"], truth.depth, atol=1e-5)
    np.testing.assert_allclose(out["normal"], truth.normal, atol=1e-5)
    np.testing.assert_array_equal(out["mask"], truth.mask)
    packed = PackPoseInputs()(out)["data_samples"]
    assert packed["pose"].tolist() == pytest.approx([pitch, math.pi - yaw])
    kept = PoseRandomFlip(prob=0.0)(dict(img=view.image, normal=view.normal.copy(), yaw=yaw))
    assert kept["yaw"] == yaw and not kept["flip"] and np.array_equal(kept["normal"], view.normal)


def test_pack_refuses_2d_flip_and_size_mismatch(source):
    results = LoadPoseGeometry()(LoadGANImage()(PoseImageDataset(str(source), require=ALL).get_data_info(0)))
    flipped = GANRandomFlip(prob=1.0)(dict(results))
    with pytest.raises(ValueError, match="flipped without its pose"):
        PackPoseInputs()(flipped)
    with pytest.raises(ValueError, match="depth is"):
        PackPoseInputs()(dict(results, depth=np.zeros((8, 8), np.float32)))


def test_arguments_checked(source):
    with pytest.raises(ValueError, match="require"):
        PoseImageDataset(str(source), require=("albedo",))
    with pytest.raises(MissingDataError, match="images"):
        PoseImageDataset(str(source / "depth"), require=())
