"""DepthGAN export through tools/deploy.py: z_depth, z_rgb and yaw in, image and depth out, ONNX Runtime vs PyTorch."""

import numpy as np
import pytest

from gen3d.apis.gan_inference import load_generator
from gen3d.deploy import ort_runner
from gen3d.deploy.gan_wrapper import GeneratorEnd2End, example_feeds, generator_args, reference_maps
from gen3d.runtime.manifest import load_manifest
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.depthgan import YAW_RANGE, Z_DIM_DEPTH, Z_DIM_RGB, make_tiny_depthgan_checkpoint

DEPLOY = str(REPO_ROOT / "deploy" / "gan_onnxruntime_fp32_dynamic.py")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_depthgan_checkpoint(tmp_path_factory.mktemp("depthgan") / "depthgan.pth")


@pytest.fixture(scope="module")
def gen(ckpt):
    return load_generator(str(ckpt))


def test_feeds_split_one_latent(gen):
    feeds = example_feeds(gen, 3, 0.7, seed=4)
    assert [k for k in feeds] == ["z_depth", "z_rgb", "yaw", "truncation_psi"]
    assert feeds["z_depth"].shape == (3, Z_DIM_DEPTH) and feeds["z_rgb"].shape == (3, Z_DIM_RGB)
    assert feeds["yaw"].shape == (3, 1) and np.abs(feeds["yaw"]).max() <= YAW_RANGE[1]
    z, c, pose = generator_args(gen, feeds)
    assert c is None and np.array_equal(pose.numpy(), feeds["yaw"])
    assert np.array_equal(z.numpy(), np.concatenate([feeds["z_depth"], feeds["z_rgb"]], 1))  # z = [z_depth, z_rgb]
    assert GeneratorEnd2End(gen).input_names == ("z_depth", "z_rgb", "yaw", "truncation_psi")


def test_tool_writes_a_gated_bundle_that_matches_pytorch(ckpt, gen, tmp_path):
    out = run_tool("deploy.py", DEPLOY, "-", str(ckpt), "--work-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-4000:]
    m = load_manifest(str(tmp_path))
    assert m["model"]["exported_type"] == "DepthGANGenerator" and m["model"]["exported"] == "generator_ema"
    assert m["model"]["z_dim"] == Z_DIM_DEPTH + Z_DIM_RGB and m["model"]["pose_dim"] == 1
    assert m["model"]["latents"] == [{"name": "z_depth", "dim": Z_DIM_DEPTH}, {"name": "z_rgb", "dim": Z_DIM_RGB}]
    assert [(i["name"], i["shape"]) for i in m["inputs"]] == [
        ("z_depth", ["batch", Z_DIM_DEPTH]), ("z_rgb", ["batch", Z_DIM_RGB]), ("yaw", ["batch", 1]),
        ("truncation_psi", [1])]
    yaw = next(i for i in m["inputs"] if i["name"] == "yaw")
    assert yaw["layout"] == ["yaw"] and yaw["distribution"]["order"] == ["yaw"]
    assert yaw["distribution"]["mode"] == "uniform" and yaw["distribution"]["yaw_std"] == pytest.approx(YAW_RANGE[1])
    assert [(o["name"], o["shape"]) for o in m["outputs"]] == [("image", ["batch", 16, 16, 3]),
                                                               ("depth", ["batch", 1, 16, 16])]
    assert set(m["parity"]["per_psi"]) == {"psi=1", "psi=0.7"}
    assert set(m["parity"]["per_psi"]["psi=0.7"]["maps"]) == {"depth"}
    # ONNX Runtime vs the generator's own forward(z = [z_depth, z_rgb], pose = yaw): a grey level, depth 1e-4
    rng = np.random.default_rng(3)
    feeds = {"z_depth": rng.standard_normal((3, Z_DIM_DEPTH)).astype(np.float32),
             "z_rgb": rng.standard_normal((3, Z_DIM_RGB)).astype(np.float32),
             "yaw": np.array([[-0.25], [0.0], [0.2]], np.float32), "truncation_psi": np.array([0.7], np.float32)}
    run = ort_runner(str(tmp_path / "model.onnx"))
    got, ref = run(feeds), reference_maps(gen, feeds, "uint8")
    assert got["image"].shape == (3, 16, 16, 3) and got["depth"].shape == (3, 1, 16, 16)
    assert np.abs(got["image"].astype(int) - ref["image"].astype(int)).max() <= 1
    assert np.abs(got["depth"] - ref["depth"]).max() <= 1e-4
    # every input is used: the yaw and z_depth move the depth, z_rgb moves the image but never the depth
    assert np.abs(run({**feeds, "yaw": feeds["yaw"][::-1].copy()})["depth"] - got["depth"]).max() > 1e-3
    assert np.abs(run({**feeds, "z_depth": feeds["z_depth"][::-1].copy()})["depth"] - got["depth"]).max() > 1e-3
    other_rgb = run({**feeds, "z_rgb": feeds["z_rgb"][::-1].copy()})
    assert np.array_equal(other_rgb["depth"], got["depth"])
    assert np.abs(other_rgb["image"].astype(int) - got["image"].astype(int)).max() > 1
    # truncation is an input whose default (1) lives in the manifest; the runtime's backend fills it
    from gen3d.runtime.backend import make_backend

    backend = make_backend("onnxruntime", str(tmp_path), load_manifest(str(tmp_path)))
    plain = backend.run({k: v for k, v in feeds.items() if k != "truncation_psi"})["image"]
    assert np.abs(plain.astype(int) - reference_maps(gen, {**feeds, "truncation_psi": np.array([1.0], np.float32)},
                                                     "uint8")["image"].astype(int)).max() <= 1
    assert np.abs(plain.astype(int) - got["image"].astype(int)).max() > 1
