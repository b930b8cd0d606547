"""tools/train.py on a tiny StyleGAN2: a killed run resumes to the same weights; 2-process CPU DDP trains in sync."""

import pytest
import torch

from gen3d.registry import MODELS
from gen3d.utils import load_local_checkpoint
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.dist_launch import dist_train
from tests.helpers.gan_data import write_image_folder

GAN_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "stylegan2_tiny.py"


@pytest.fixture
def gan_data_root(tmp_path):
    return write_image_folder(tmp_path / "images", num=8, size=16)


def _state(path):
    return load_local_checkpoint(path)["state_dict"]


def test_killed_gan_training_resumes_to_identical_weights(tmp_path, gan_data_root):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    common = ["--data-root", str(gan_data_root)]
    out = run_tool("train.py", str(GAN_CONFIG), "--work-dir", str(straight), *common)
    assert out.returncode == 0, out.stderr[-3000:]
    # SIGKILL after iteration 5: iter_4.pth is the last checkpoint (R1 and path length ran at iterations 0, 2, 4).
    out = run_tool("train.py", str(GAN_CONFIG), "--work-dir", str(killed), *common,
                   "--cfg-options", "custom_hooks.1.kill_at=5")
    assert out.returncode == -9, out.stderr[-3000:]
    assert (killed / "iter_4.pth").exists() and not (killed / "iter_6.pth").exists()
    out = run_tool("train.py", str(GAN_CONFIG), "--work-dir", str(killed), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "do not match exactly" not in out.stdout + out.stderr
    a, b = _state(straight / "iter_6.pth"), _state(killed / "iter_6.pth")
    assert a.keys() == b.keys()
    assert {"seen_img", "train_iter", "pl_mean"} <= set(a) and int(a["seen_img"]) == 12 and int(a["train_iter"]) == 6
    assert any(k.startswith("generator_ema.") for k in a) and any(k.startswith("discriminator.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"


@pytest.mark.slow
def test_two_process_cpu_distributed_gan_train_checkpoint_resume(tmp_path, gan_data_root):
    work = tmp_path / "dist"
    dist_train(GAN_CONFIG, work, gan_data_root, 7, "--cfg-options", "train_cfg.max_iters=4")
    ckpt = _state(work / "iter_4.pth")
    assert int(ckpt["seen_img"]) == 4 * 2 * 2  # iterations x per-rank batch x ranks
    # The per-submodule DDPs leave no trace in the keys: the checkpoint loads strictly into a bare model.
    model = MODELS.build(load_config(str(GAN_CONFIG)).model)
    model.load_state_dict(ckpt, strict=True)
    log = dist_train(GAN_CONFIG, work, gan_data_root, 7, "--resume", "--cfg-options", "train_cfg.max_iters=6")
    assert "resumed" in log.lower() and "do not match exactly" not in log
    ckpt = _state(work / "iter_6.pth")
    assert int(ckpt["seen_img"]) == 6 * 2 * 2 and int(ckpt["train_iter"]) == 6


def test_amp_gan_training_runs_with_fp32_regularisers(tmp_path, gan_data_root):
    """--amp (bf16 autocast on CPU) covers both optimizers; R1 and path length (double backward) stay fp32."""
    work = tmp_path / "amp"
    out = run_tool("train.py", str(GAN_CONFIG), "--work-dir", str(work), "--data-root", str(gan_data_root), "--amp")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "config.py").read_text().count("CPUAutocastOptimWrapper") == 2 or torch.cuda.is_available()
    state = _state(work / "iter_6.pth")
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.slow
def test_two_process_three_optimizer_gan_on_the_spine_resumes_bit_identically(tmp_path, gan_data_root):
    """A toy GAN with three optimizers (generator pair + D, lazy phases) under 2 gloo ranks: in sync, and a run
    stopped at iteration 2 and resumed ends bit-identical to the straight run."""
    from tests.helpers.gan import write_toy_three_optim_config

    config = write_toy_three_optim_config(tmp_path / "toy_three_optim.py", REPO_ROOT)

    def launch(work, *extra):
        return dist_train(config, work, gan_data_root, 11, *extra)

    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    launch(straight)
    launch(stopped, "--cfg-options", "train_cfg.max_iters=2")
    log = launch(stopped, "--resume")
    assert "resumed" in log.lower() and "do not match exactly" not in log
    a, b = _state(straight / "iter_4.pth"), _state(stopped / "iter_4.pth")
    assert int(a["seen_img"]) == 4 * 2 * 2 and int(a["train_iter"]) == 4
    assert {k.split(".")[0] for k in a} >= {"generator", "refiner", "discriminator", "generator_ema"}
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"
    first = _state(straight / "iter_2.pth")
    for name in ("generator.", "refiner.", "discriminator."):  # every optimizer stepped its network
        assert any(not torch.equal(first[k], a[k]) for k in a if k.startswith(name)), name
