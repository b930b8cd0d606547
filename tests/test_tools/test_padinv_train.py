"""tools/train.py on a tiny PadInv (light encoder, tiny StyleGAN2 checkpoint): it trains the encoder only, a killed
run (a fresh interpreter) resumes to the weights and optimizer state of an uninterrupted run (in-process), the
checkpoint loads alone, tools/test.py reports MSE / PSNR / SSIM."""

import json
import math

import pytest
import torch

from gen3d.models.editing.padinv import load_padinv_checkpoint
from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool, run_tool_main
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.helpers.gan_data import write_image_folder

CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "padinv_tiny.py"


@pytest.fixture
def setup(tmp_path):
    gan = make_tiny_gan_checkpoint(tmp_path / "gan.pth")
    return str(gan), ["--data-root", str(write_image_folder(tmp_path / "images", num=8, size=16))]


def test_killed_padinv_training_resumes_to_identical_weights(setup, tmp_path):
    gan, common = setup
    common += ["--cfg-options", f"model.generator_ckpt={gan}"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the fresh interpreters (OMP_NUM_THREADS=1): the same float results
    try:
        out = run_tool_main("train.py", str(CONFIG), "--work-dir", str(straight), *common)  # in-process: faster
    finally:
        torch.set_num_threads(threads)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loss_mse" in out.stdout + out.stderr and "encoder.lr" in out.stdout + out.stderr
    out = run_tool("train.py", str(CONFIG), "--work-dir", str(killed), *common, "custom_hooks.0.kill_at=3")
    assert out.returncode == -9, out.stderr[-3000:]
    assert (killed / "iter_2.pth").exists() and not (killed / "iter_4.pth").exists()
    out = run_tool("train.py", str(CONFIG), "--work-dir", str(killed), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "do not match exactly" not in out.stdout + out.stderr
    a_ckpt, b_ckpt = load_local_checkpoint(straight / "iter_6.pth"), load_local_checkpoint(killed / "iter_6.pth")
    a, b = a_ckpt["state_dict"], b_ckpt["state_dict"]
    assert a.keys() == b.keys() and int(a["seen_img"]) == 12
    assert not any(k.startswith("generator_ema.") for k in a)  # the frozen generator is stored once
    for k in a:
        if k != "_extra_state":
            assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"
    assert a["_extra_state"] == b["_extra_state"] and a["_extra_state"]["generator_cfg"]["resolution"] == 16
    init, gan_state = load_local_checkpoint(straight / "iter_2.pth")["state_dict"], load_local_checkpoint(gan)
    assert any(not torch.equal(init[k], a[k]) for k in a if k.startswith("encoder."))
    assert all(torch.equal(a[k], gan_state["state_dict"][f"generator_ema.{k[len('generator.'):]}"])
               for k in a if k.startswith("generator."))
    sa, sb = a_ckpt["optimizer"]["encoder"]["state"], b_ckpt["optimizer"]["encoder"]["state"]
    assert set(a_ckpt["optimizer"]) == {"encoder"} and sa.keys() == sb.keys()
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    model = load_padinv_checkpoint(str(straight / "iter_6.pth"))
    assert all(torch.equal(v, a[k]) for k, v in model.state_dict().items() if k != "_extra_state")

    results = tmp_path / "results.json"
    out = run_tool_main("test.py", str(CONFIG), str(straight / "iter_6.pth"), *common[:2], "--work-dir",
                   str(tmp_path / "test"), "--out", str(results), "--cfg-options", f"model.generator_ckpt={gan}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = {k.rsplit("/", 1)[-1]: v for k, v in json.loads(results.read_text()).items()}
    assert {"mse", "psnr", "ssim"} <= set(metrics) and all(math.isfinite(metrics[k]) for k in ("mse", "psnr", "ssim"))
