"""GeneratorRuntime on a DepthGAN bundle: one z split into z_depth / z_rgb, yaw-only poses (order ['yaw']), depth."""

import cv2
import numpy as np
import pytest

from gen3d.runtime.generation import GeneratorRuntime, sample_poses, seed_latents, seed_poses
from tests.helpers.depthgan import YAW_RANGE, Z_DIM_DEPTH, Z_DIM_RGB, make_tiny_depthgan_checkpoint
from tests.test_runtime.bundle_helpers import build_generator_bundle, run_without_torch

Z_DIM = Z_DIM_DEPTH + Z_DIM_RGB


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_depthgan_checkpoint(tmp_path_factory.mktemp("depthgan") / "depthgan.pth")


@pytest.fixture(scope="module")
def bundle(ckpt, tmp_path_factory):
    return build_generator_bundle(ckpt, tmp_path_factory.mktemp("depthgan_bundle"))


def test_one_latent_and_yaw_in_match_pytorch(ckpt, bundle):
    from gen3d.apis.gan_inference import load_generator
    from gen3d.apis.gan_inference import seed_latents as torch_seed_latents
    from gen3d.deploy.gan_wrapper import reference_maps

    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1, batch_size=2)
    assert rt.latents == [("z_depth", Z_DIM_DEPTH), ("z_rgb", Z_DIM_RGB)] and rt.z_dim == Z_DIM
    assert rt.pose_input == "yaw" and rt.pose_dim == 1 and rt.output_names == ["image", "depth"]
    gen = load_generator(str(ckpt))
    z = torch_seed_latents([0, 1, 2], Z_DIM).numpy()  # the latents tools/gan/generate.py draws: z = [z_depth, z_rgb]
    yaw = np.array([[-0.2], [0.1], [0.25]], np.float32)
    maps = rt.generate_maps(z, 0.7, pose=yaw)  # batch 2: the last call has one latent
    ref = reference_maps(gen, {"z_depth": z[:, :Z_DIM_DEPTH], "z_rgb": z[:, Z_DIM_DEPTH:], "yaw": yaw,
                               "truncation_psi": np.array([0.7], np.float32)}, "uint8")
    assert maps["image"].shape == (3, 16, 16, 3) and maps["depth"].shape == (3, 16, 16, 1)
    assert np.abs(maps["image"].astype(int) - ref["image"].astype(int)).max() <= 1
    assert np.abs(maps["depth"] - ref["depth"].transpose(0, 2, 3, 1)).max() <= 1e-4
    assert not np.allclose(rt.generate_maps(z, 0.7, pose=yaw[::-1].copy())["depth"], maps["depth"])
    centre = np.zeros((3, 1), np.float32)  # None: the mean yaw of the manifest's distribution
    assert np.array_equal(rt.generate_maps(z, pose=None)["depth"], rt.generate_maps(z, pose=centre)["depth"])
    with pytest.raises(ValueError, match="pose must be"):
        rt.generate(z, pose=np.zeros((3, 2), np.float32))  # a (pitch, yaw) pose for a yaw-only generator
    with pytest.raises(ValueError, match="z must be"):
        rt.generate(z[:, :Z_DIM_DEPTH])


def test_seeded_yaws(bundle):
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1)
    a = rt.sample_maps([0, 1, 2, 3])
    yaws = seed_poses([0, 1, 2, 3], rt.pose_distribution)
    assert yaws.shape == (4, 1) and np.abs(yaws).max() <= YAW_RANGE[1] and len(np.unique(yaws)) == 4
    assert np.array_equal(a["depth"], rt.generate_maps(seed_latents([0, 1, 2, 3], Z_DIM), pose=yaws)["depth"])
    assert seed_poses([], rt.pose_distribution).shape == (0, 1)


def test_numpy_poses_follow_the_order():
    dist = {"mode": "uniform", "yaw_mean": 0.1, "yaw_std": 0.3, "pitch_mean": 1.4, "pitch_std": 0.2}
    both = sample_poses(dist, 500, np.random.default_rng(0))
    yaw = sample_poses({**dist, "order": ["yaw"]}, 500, np.random.default_rng(0))
    assert both.shape == (500, 2) and yaw.shape == (500, 1)
    assert np.array_equal(yaw[:, 0], both[:, 1])  # the same yaws, pitch dropped
    assert np.array_equal(sample_poses({**dist, "order": ["pitch", "yaw"]}, 500, np.random.default_rng(0)), both)
    assert np.array_equal(sample_poses({**dist, "order": ["yaw", "pitch"]}, 5, np.random.default_rng(1)),
                          sample_poses(dist, 5, np.random.default_rng(1))[:, ::-1])
    assert np.allclose(sample_poses({**dist, "order": ["yaw"]}, 2), [[0.1], [0.1]])  # no rng: the mean
    with pytest.raises(ValueError, match="pose order"):
        sample_poses({**dist, "order": ["roll"]}, 2, np.random.default_rng(0))


def test_cli_writes_depth_beside_rgb_without_torch(bundle, tmp_path):
    out = run_without_torch("-c", "import runpy; runpy.run_module('gen3d.runtime', run_name='__main__')", bundle,
                            "--seeds", "0-2", "--out-dir", str(tmp_path), "--backend", "onnxruntime", "--threads", "1")
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (32, 32, 3)
    assert cv2.imread(str(tmp_path / "geometry.png")).shape == (48, 32, 3)  # 3 rows of RGB | depth
