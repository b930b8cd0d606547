"""tools/train.py on a tiny DepthGAN over tiny offline rooms: the seven phases log, a killed run resumes exactly."""

import json
import math

import torch

from gen3d.datasets.rooms_synthesis import build_rooms_dataset
from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool

DEPTHGAN_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "depthgan_tiny.py"


def test_killed_depthgan_training_resumes_to_identical_weights(tmp_path):
    data = build_rooms_dataset(tmp_path / "rooms", num=6, size=16)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    common = ["--data-root", str(data)]
    out = run_tool("train.py", str(DEPTHGAN_CONFIG), "--work-dir", str(straight), *common)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    for key in ("loss_rot_depth", "loss_rot_rgb", "loss_g_depth", "loss_d_depth", "loss_r1",
                "generator_depth.lr", "generator_rgb.lr", "discriminator.lr"):
        assert key in log, key
    out = run_tool("train.py", str(DEPTHGAN_CONFIG), "--work-dir", str(killed), *common,
                   "--cfg-options", "custom_hooks.1.kill_at=3")
    assert out.returncode == -9, out.stderr[-3000:]
    assert (killed / "iter_2.pth").exists() and not (killed / "iter_4.pth").exists()
    out = run_tool("train.py", str(DEPTHGAN_CONFIG), "--work-dir", str(killed), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "do not match exactly" not in out.stdout + out.stderr
    straight_ckpt = load_local_checkpoint(straight / "iter_6.pth")
    killed_ckpt = load_local_checkpoint(killed / "iter_6.pth")
    a, b = straight_ckpt["state_dict"], killed_ckpt["state_dict"]
    assert a.keys() == b.keys() and int(a["seen_img"]) == 12 and int(a["train_iter"]) == 6
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"
    assert set(straight_ckpt["optimizer"]) >= {"generator_depth", "generator_rgb", "discriminator"}
    # tools/test.py --out: every DepthGAN metric of the config in the results JSON (the estimator-less one named off)
    results = tmp_path / "results.json"
    out = run_tool("test.py", str(DEPTHGAN_CONFIG), str(straight / "iter_6.pth"), *common, "--work-dir",
                   str(tmp_path / "test"), "--out", str(results))
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = {k.rsplit("/", 1)[-1]: v for k, v in json.loads(results.read_text()).items()}
    for key in ("fd_lite0", "fd_lite0_depth", "roteval_depth", "roteval_rgb", "real_depth_ce", "real_depth_acc",
                "fake_depth_ce", "fake_depth_acc"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key
    assert 0 <= metrics["real_depth_acc"] <= 1 and metrics["roteval_depth"] > 0
    assert "gen_depth_l1" not in metrics and "estimator" in out.stdout + out.stderr  # off, with its reason
