"""StyleGAN2 and DynamicD on the device (``pytest -m gpu``): ``--amp`` training through the Runner (G, lazy path
length, D, lazy R1, EMA), one validation (FID/KID with the offline lite0 fallback), and the generator bundle of
``tools/deploy.py`` against the generator on the device.

Skipped without CUDA; ``GEN3D_GPU_TESTS_ON_CPU=1`` runs the same bodies on CPU (bf16 autocast).
"""

import math

import numpy as np
import pytest

from gen3d.deploy.gan_wrapper import example_feeds, reference_images
from gen3d.deploy.parity import check_gan_parity
from tests.conftest import REPO_ROOT
from tests.helpers.device import OnDevice, assert_amp_run, ort_runner_for, strict_fp32, train_with_amp

pytestmark = pytest.mark.gpu
CONFIGS = {
    "StyleGAN2": REPO_ROOT / "configs" / "stylegan2" / "stylegan2_lite_1xb8-20kimg_lfw-faces-32.py",
    "DynamicD": REPO_ROOT / "configs" / "dynamicd" / "dynamicd-increase_stylegan2-lite_1xb8-20kimg_lfw-faces-32.py",
}
# 4 iterations of batch 4: path length (every 4) and R1 (every 16) both run at iteration 0; validation at the end
OPTIONS = {"train_cfg.max_iters": 4, "train_cfg.val_interval": 4, "train_dataloader.batch_size": 4,
           "default_hooks.checkpoint.interval": 4}
DEPLOY = str(REPO_ROOT / "deploy" / "gan_onnxruntime_fp32_dynamic.py")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from gen3d.datasets.gan_synthesis import build_gan_demo_dataset

    return build_gan_demo_dataset(tmp_path_factory.mktemp("lfw"), resolution=32, channels=1) / "train"


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory):
    """``{name: (work_dir, runner, recorder)}``, each trained on first use."""
    cache = {}

    def get(name: str):
        if name not in cache:
            work = tmp_path_factory.mktemp(name.lower())
            cache[name] = (work, *train_with_amp(str(CONFIGS[name]), str(work), str(data_root), dict(OPTIONS)))
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(CONFIGS))
def test_amp_training_and_validation(name, runs, device):
    _, runner, recorder = runs(name)
    assert_amp_run(runner, recorder, device, ["generator.", "discriminator."])
    assert len(recorder.logs) == 4
    assert {"loss_g", "loss_d", "loss_pl", "loss_r1"} <= set(recorder.logs[0]), recorder.logs[0]
    if name == "DynamicD":
        assert 0.5 <= recorder.logs[-1]["ratio"] <= 1.0
    metrics = recorder.val_metrics or {}
    assert metrics and all(math.isfinite(float(v)) for v in metrics.values() if isinstance(v, (int, float))), metrics


def test_generator_export_parity_against_the_device_model(runs, device, tmp_path):
    from gen3d.apis.gan_inference import load_generator
    from gen3d.deploy import build_bundle

    work, _, _ = runs("DynamicD")
    ckpt = str(work / "iter_4.pth")
    manifest = build_bundle(DEPLOY, None, ckpt, str(tmp_path))
    assert manifest["parity"]["max_abs_diff"] <= 1  # the bundle's own CPU gate
    gen = load_generator(ckpt, device=device)
    run, provider = ort_runner_for(str(tmp_path / "model.onnx"), device)
    for psi in (1.0, 0.7):
        feeds = example_feeds(gen, 4, psi)
        with strict_fp32():
            ref = reference_images(OnDevice(gen, device), feeds, "uint8")
        out = run(feeds)["image"]
        assert out.dtype == np.uint8 and out.shape == (4, 32, 32, 1)
        result = check_gan_parity(ref, out, what=f"onnxruntime {provider} vs {device}, psi {psi}")
        assert result["max_abs_diff"] <= result["gate"]
