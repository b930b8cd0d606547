"""GANSampleHook (grid + metrics.csv per validation) and the demo's curve helpers, without a Runner."""

import csv
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

import gen3d.models  # noqa: F401 - registers the GAN modules
from gen3d.demos.gan_demo import format_curves, metric_key, plot_curves
from gen3d.engine.hooks import GANSampleHook
from gen3d.registry import MODELS


def _runner(tmp_path, c_dim=0):
    gen = MODELS.build(dict(type="StyleGAN2Generator", resolution=16, z_dim=8, w_dim=8, c_dim=c_dim,
                            mapping_layers=1, channel_base=64, channel_max=8, img_channels=1)).eval()
    model = SimpleNamespace(generator_ema=gen, seen_img=torch.tensor(1500))
    calls = []
    val_loop = SimpleNamespace(run=lambda: calls.append("val"))
    return SimpleNamespace(model=model, work_dir=str(tmp_path), iter=0, val_loop=val_loop), calls


def test_hook_writes_grid_and_csv(tmp_path):
    runner, calls = _runner(tmp_path, c_dim=2)
    hook = GANSampleHook(num_samples=6, nrow=3)
    hook.before_train(runner)
    assert calls == ["val"]
    hook.after_val_epoch(runner, {"fd_lite0": 200.0})
    first = np.asarray(Image.open(tmp_path / "samples" / "iter_000000.png"))
    runner.iter = 50
    hook.after_val_epoch(runner, {"fd_lite0": 150.0, "kd_lite0": 0.1})
    again = np.asarray(Image.open(tmp_path / "samples" / "iter_000050.png"))
    assert first.shape == (32, 48) and np.array_equal(first, again)  # same latents, same weights -> same grid
    with open(tmp_path / "samples" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["iter"] for r in rows] == ["0", "50"] and rows[1]["kimg"] == "1.5" and rows[0]["kd_lite0"] == ""
    runner.iter = 10
    GANSampleHook(eval_at_start=True).before_train(runner)  # not at the start of a run: no extra validation
    assert calls == ["val"]


def test_curve_helpers(tmp_path):
    rows = [dict(iter=0.0, kimg=0.0, fd_lite0=300.0, kd_lite0=0.5, kd_lite0_std=0.01),
            dict(iter=100.0, kimg=0.8, fd_lite0=250.0, kd_lite0=0.4, kd_lite0_std=0.01)]
    results = {"StyleGAN2": {"rows": rows}, "DynamicD decreasing": {"rows": rows[:1]}}
    assert metric_key(rows) == "fd_lite0"
    assert metric_key([{"iter": 0, "kimg": 0, "kid": 1.0, "fid": 2.0}]) == "fid"
    table = format_curves(results)
    assert "StyleGAN2: fd_lite0" in table and "250" in table and "_std" not in table
    path = plot_curves(results, str(tmp_path / "curve.png"))
    assert Image.open(path).size == (600, 400)
