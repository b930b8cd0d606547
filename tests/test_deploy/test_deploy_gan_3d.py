"""pi-GAN export through tools/deploy.py: latent + camera pose in, image / depth / normal / mask out, gated on each."""

import numpy as np
import pytest

from gen3d.apis.gan_inference import load_generator
from gen3d.deploy import ParityError, ort_runner
from gen3d.deploy.gan_wrapper import reference_maps
from gen3d.deploy.parity import gate_backend
from gen3d.runtime.manifest import load_manifest
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.pigan import make_tiny_pigan_checkpoint

DEPLOY = str(REPO_ROOT / "deploy" / "gan_onnxruntime_fp32_dynamic.py")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_pigan_checkpoint(tmp_path_factory.mktemp("pigan") / "pigan.pth")


def test_tool_exports_pose_in_depth_out(ckpt, tmp_path):
    out = run_tool("deploy.py", DEPLOY, "-", str(ckpt), "--work-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-4000:]
    m = load_manifest(str(tmp_path))
    assert m["model"]["exported_type"] == "PiGANGenerator" and m["model"]["pose_dim"] == 2
    pose_in = next(i for i in m["inputs"] if i["name"] == "pose")
    assert [i["name"] for i in m["inputs"]] == ["z", "pose", "truncation_psi"]
    assert pose_in["layout"] == ["pitch", "yaw"] and pose_in["distribution"]["fov"] == 12.0
    assert {"mode", "yaw_mean", "pitch_std", "radius"} <= set(pose_in["distribution"])
    assert [o["name"] for o in m["outputs"]] == ["image", "depth", "normal", "mask"]
    assert set(m["parity"]["per_psi"]["psi=0.7"]["maps"]) == {"depth", "normal", "mask"}
    # ONNX Runtime vs PyTorch at given poses (constant noise): image within a grey level, depth within 1e-4
    gen = load_generator(str(ckpt))
    z = np.random.default_rng(5).standard_normal((3, 16)).astype(np.float32)
    feeds = {"z": z, "pose": np.array([[1.3, 1.4], [1.6, 1.7], [1.9, 2.0]], np.float32),
             "truncation_psi": np.array([0.8], np.float32)}
    got, ref = ort_runner(str(tmp_path / "model.onnx"))(feeds), reference_maps(gen, feeds, "uint8")
    assert got["depth"].shape == (3, 1, 8, 8) and np.abs(got["depth"] - ref["depth"]).max() <= 1e-4
    assert np.abs(got["image"].astype(int) - ref["image"].astype(int)).max() <= 1
    assert np.abs(got["depth"] - reference_maps(gen, {**feeds, "pose": feeds["pose"][::-1].copy()},
                                                "uint8")["depth"]).max() > 1e-3  # the pose input is used


def test_gate_catches_a_wrong_depth(ckpt, tmp_path):
    gen = load_generator(str(ckpt))

    def torch_run(feeds, shift=0.0):
        out = reference_maps(gen, feeds, "uint8")
        return {**out, "depth": out["depth"] + shift}

    assert gate_backend(torch_run, gen, "uint8", (1.0,), n=4, batch_size=4)["max_abs_diff"] == 0
    with pytest.raises(ParityError, match="depth"):
        gate_backend(lambda f: torch_run(f, 1e-3), gen, "uint8", (1.0,), n=4, batch_size=4)
