"""GeneratorRuntime on a 3D-aware (pi-GAN) bundle: poses in, every map out, seeded numpy poses, geometry.png, PLY."""

import math

import cv2
import numpy as np
import pytest

from gen3d.runtime.colormaps import depth_to_rgb, geometry_panels, normal_to_rgb
from gen3d.runtime.generation import GeneratorRuntime, sample_poses, seed_latents, seed_poses
from gen3d.runtime.ply import read_ply, write_ply
from tests.helpers.pigan import make_tiny_pigan_checkpoint
from tests.test_runtime.bundle_helpers import assert_never_imports_torch, build_generator_bundle, run_without_torch


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_pigan_checkpoint(tmp_path_factory.mktemp("pigan") / "pigan.pth")


@pytest.fixture(scope="module")
def bundle(ckpt, tmp_path_factory):
    return build_generator_bundle(ckpt, tmp_path_factory.mktemp("pigan_bundle"))


def test_poses_in_all_maps_out_match_pytorch(ckpt, bundle):
    from gen3d.apis.gan_inference import load_generator
    from gen3d.deploy.gan_wrapper import reference_maps

    gen = load_generator(str(ckpt))
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1, batch_size=4)
    assert rt.pose_dim == 2 and rt.output_names == ["image", "depth", "normal", "mask"]
    assert rt.pose_distribution["mode"] == "normal" and rt.pose_distribution["fov"] == 12.0
    z = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    pose = np.array([[1.4, 1.2], [1.57, 1.57], [1.7, 1.9], [1.5, 1.0], [1.6, 2.1]], np.float32)  # (pitch, yaw)
    maps = rt.generate_maps(z, 0.7, pose=pose)
    ref = reference_maps(gen, {"z": z, "pose": pose, "truncation_psi": np.array([0.7], np.float32)}, "uint8")
    assert maps["image"].shape == (5, 8, 8, 3) and maps["depth"].shape == maps["mask"].shape == (5, 8, 8, 1)
    assert np.abs(maps["image"].astype(int) - ref["image"].astype(int)).max() <= 1
    for name in ("depth", "normal", "mask"):  # NHWC here, NCHW in the graph
        assert np.abs(maps[name] - ref[name].transpose(0, 2, 3, 1)).max() <= 1e-4, name
    assert np.array_equal(rt.generate(z, 0.7, pose=pose), maps["image"])
    # the pose matters, and None is the mean pose of the manifest's distribution
    assert not np.allclose(rt.generate_maps(z, 0.7, pose=pose[::-1].copy())["depth"], maps["depth"])
    mean = np.tile([[math.pi / 2, math.pi / 2]], (5, 1)).astype(np.float32)
    assert np.array_equal(rt.generate_maps(z, pose=None)["depth"], rt.generate_maps(z, pose=mean)["depth"])
    with pytest.raises(ValueError, match="pose must be"):
        rt.generate(z, pose=pose[:2])


def test_seeded_poses(bundle):
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1)
    a = rt.sample_maps([0, 1, 2])
    assert np.array_equal(a["depth"], rt.sample_maps([0, 1, 2])["depth"])
    poses = seed_poses([0, 1, 2], rt.pose_distribution)
    assert not np.allclose(poses[0], poses[1])
    assert np.array_equal(a["depth"], rt.generate_maps(seed_latents([0, 1, 2], 16), pose=poses)["depth"])


def test_numpy_pose_distribution():
    dist = {"mode": "normal", "yaw_mean": 1.5, "pitch_mean": 1.6, "yaw_std": 0.3, "pitch_std": 0.1}
    p = sample_poses(dist, 4000, np.random.default_rng(0))
    assert p.shape == (4000, 2) and p.dtype == np.float32
    assert abs(p[:, 1].mean() - 1.5) < 0.02 and abs(p[:, 1].std() - 0.3) < 0.02  # yaw
    assert abs(p[:, 0].mean() - 1.6) < 0.01 and abs(p[:, 0].std() - 0.1) < 0.01  # pitch
    u = sample_poses({**dist, "mode": "uniform"}, 4000, np.random.default_rng(1))
    assert np.abs(u[:, 1] - 1.5).max() <= 0.3 and np.abs(u[:, 1] - 1.5).max() > 0.29
    assert np.allclose(sample_poses(dist, 3), [[1.6, 1.5]] * 3)  # no rng: the means
    with pytest.raises(ValueError, match="pose mode"):
        sample_poses({**dist, "mode": "cube"}, 2, np.random.default_rng(0))


def test_geometry_colours():
    depth = np.array([1.0, 2.0, 3.0, 9.0], np.float32).reshape(1, 1, 4, 1)
    mask = np.array([1, 1, 1, 0], np.float32).reshape(1, 1, 4, 1)
    rgb = depth_to_rgb(depth, mask)
    bright = rgb.astype(int).sum(-1)[0, 0]
    assert bright[0] > bright[1] > bright[2] and bright[3] == 0  # near bright, background black
    half = depth_to_rgb(depth * 0.5, mask * 0.5, threshold=0.4)  # sum w t / sum w: same surface, same colours
    assert np.array_equal(half[..., :3, :], rgb[..., :3, :])
    assert depth_to_rgb(depth, mask * 0).max() == 0  # nothing rendered: all black
    n = normal_to_rgb(np.array([[[[0, 0, 1], [-1, 1, 0]]]], np.float32))
    assert n[0, 0].tolist() == [[128, 128, 255], [0, 255, 128]]
    panels = geometry_panels({"image": np.zeros((2, 4, 4, 3), np.uint8), "depth": np.ones((2, 4, 4, 1)),
                              "normal": np.zeros((2, 4, 4, 3))})
    assert panels.shape == (2, 4, 12, 3)


def test_shared_depth_range_keeps_a_sweeps_colours_steady():
    near, far = np.full((1, 2, 2, 1), 1.0, np.float32), np.full((1, 2, 2, 1), 3.0, np.float32)
    frames = np.concatenate([np.concatenate([near, far], 2), np.concatenate([near, far], 2) + 1])  # frame 2 is farther
    own, shared = depth_to_rgb(frames), depth_to_rgb(frames, shared=True)
    assert np.array_equal(own[0], own[1])  # each frame on its own range: the farther frame looks the same
    assert shared[1].astype(int).sum() < shared[0].astype(int).sum()  # one range: the farther frame is darker
    assert np.array_equal(shared[0, :, :2], own[0, :, :2])  # the nearest surface of all is bright in both
    panels = geometry_panels({"image": np.zeros((2, 2, 4, 3), np.uint8), "depth": frames}, shared_depth=True)
    assert np.array_equal(panels[:, :, 4:], shared)


@pytest.mark.parametrize("ascii", [False, True])
def test_ply_round_trip(tmp_path, ascii):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.5]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    col = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    back = read_ply(write_ply(str(tmp_path / "m.ply"), v, f, col, ascii=ascii))
    assert np.allclose(back["vertices"], v) and np.array_equal(back["faces"], f)
    assert np.array_equal(back["colors"], col)
    assert "colors" not in read_ply(write_ply(str(tmp_path / "n.ply"), v, f, ascii=ascii))
    with pytest.raises(ValueError, match="face indices"):
        write_ply(str(tmp_path / "bad.ply"), v, [[0, 1, 4]])


def test_cli_writes_depth_beside_rgb_without_torch(bundle, tmp_path):
    out = run_without_torch("-c", "import runpy; runpy.run_module('gen3d.runtime', run_name='__main__')", bundle,
                            "--seeds", "0-3", "--out-dir", str(tmp_path), "--backend", "onnxruntime", "--threads", "1")
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    assert "geometry.png" in out.stdout
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (16, 16, 3)
    assert cv2.imread(str(tmp_path / "geometry.png")).shape == (32, 24, 3)  # 4 rows of RGB | depth | normal


def test_3d_import_never_imports_torch(bundle):
    code = ("import sys\nfrom gen3d.runtime.generation import GeneratorRuntime\nimport gen3d.runtime.ply\n"
            "m = GeneratorRuntime(sys.argv[1]).sample_maps([0, 1])\nassert m['depth'].shape == (2, 8, 8, 1)\n")
    assert_never_imports_torch(code, bundle)


def test_the_same_seed_gives_the_same_sample_on_checkpoint_and_bundle(ckpt, bundle):
    """One seed convention: the PyTorch sampling (tools/gan/generate.py, hooks) and the bundle draw alike."""
    from gen3d.apis.gan_inference import load_generator
    from gen3d.models.gans.sampling import generate
    from gen3d.models.gans.sampling import seed_latents as torch_latents
    from gen3d.models.gans.sampling import seed_poses as torch_poses

    gen = load_generator(str(ckpt))
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1, batch_size=4)
    seeds = [0, 7, 42]
    assert np.array_equal(torch_latents(seeds, 16).numpy(), seed_latents(seeds, 16))
    assert np.array_equal(torch_poses(gen, seeds).numpy(), seed_poses(seeds, rt.pose_distribution))
    ours = generate(gen, torch_latents(seeds, 16), pose=torch_poses(gen, seeds), truncation_psi=0.7)
    theirs = rt.sample(seeds, truncation_psi=0.7)
    assert np.abs(ours.permute(0, 2, 3, 1).numpy().astype(int) - theirs.astype(int)).max() <= 1
