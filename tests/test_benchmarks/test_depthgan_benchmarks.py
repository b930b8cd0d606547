"""``tools/benchmark.py depthgan-train`` at the tiniest settings: the rows and the ratio's baseline, never the speed."""

import math

import pytest
import torch

from gen3d.benchmarks.benchmarks import BENCH_TASKS
from gen3d.benchmarks.depthgan_benchmarks import (
    BASELINE,
    DEPTHGAN_COLUMNS,
    VARIANTS,
    bench_depthgan_train,
    depthgan_at,
    rooms_batch,
)
from gen3d.models.gans.data_preprocessor import GANDataPreprocessor
from gen3d.utils.gpu_check import BENCHMARKS, RATIO_KEYS

RES = 8
DEPTHGAN = dict(
    type="DepthGAN", warp_focal=260.0 * RES / 256, depth_shift=0.0, r1_gamma=1.0,
    generator=dict(type="DepthGANGenerator", resolution=RES, z_dim_depth=8, z_dim_rgb=8, w_dim=16, mapping_layers=2,
                   channel_base=128, channel_max=16),
    discriminator=dict(type="DepthGANDiscriminator", resolution=RES, channel_base=128, channel_max=16,
                       mbstd_group_size=2, depth_head_resolutions=(8,)))
STYLEGAN2 = dict(
    type="StyleGAN2", r1_gamma=1.0,
    generator=dict(type="StyleGAN2Generator", resolution=RES, z_dim=8, w_dim=16, mapping_layers=2, channel_base=128,
                   channel_max=16, img_channels=3),
    discriminator=dict(type="StyleGAN2Discriminator", resolution=RES, img_channels=3, channel_base=128,
                       channel_max=16, mbstd_group_size=2))
ADAM = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.0, 0.99)))

pytestmark = pytest.mark.usefixtures("one_thread")


def test_rooms_batch_carries_normalised_depth_through_the_preprocessor():
    data = GANDataPreprocessor()(rooms_batch(2, RES))
    assert data["inputs"].shape == (2, 3, RES, RES) and data["real_depth"].shape == (2, 1, RES, RES)
    assert data["real_depth"].min() >= -1 and data["real_depth"].max() <= 1
    assert "real_depth" not in GANDataPreprocessor()(rooms_batch(2, RES, with_depth=False))


def test_depthgan_at_resizes_g_d_taps_and_focal():
    cfg = depthgan_at(dict(DEPTHGAN, discriminator=dict(DEPTHGAN["discriminator"], depth_head_resolutions=(32, 16, 8))),
                      16, drot_weight=0.0)
    assert cfg["generator"]["resolution"] == cfg["discriminator"]["resolution"] == 16
    assert cfg["discriminator"]["depth_head_resolutions"] == (16, 8) and cfg["drot_weight"] == 0.0
    assert cfg["warp_focal"] == pytest.approx(260.0 * 16 / 256) and DEPTHGAN["generator"]["resolution"] == RES


def test_depthgan_train_rows_against_the_stylegan2_row():
    rows = bench_depthgan_train(DEPTHGAN, STYLEGAN2, (RES,), batch_size=4, rounds=2, warmup=0,
                                depthgan_optim=dict(generator_depth=ADAM, generator_rgb=ADAM, discriminator=ADAM),
                                stylegan2_optim=dict(generator=ADAM, discriminator=ADAM))
    assert [(r["variant"], r["px"]) for r in rows] == [(name, RES) for name in (BASELINE, *VARIANTS)]
    assert all(math.isfinite(r[c]) and r[c] > 0 for r in rows for c in DEPTHGAN_COLUMNS if c not in ("variant", "px"))
    base = rows[0]["mean s"]
    assert rows[0]["x StyleGAN2"] == 1.0
    assert all(r["x StyleGAN2"] == pytest.approx(r["mean s"] / base) for r in rows)
    assert all(r["img/s"] == pytest.approx(4 / r["mean s"]) and r["r1_iters"] == 1 for r in rows)  # R1 at iteration 0


def test_task_is_wired_on_device_and_in_the_gpu_check():
    task = BENCH_TASKS["depthgan-train"]
    assert task.columns == DEPTHGAN_COLUMNS and task.on_device and task.rounds % 16 == 0
    assert "depthgan-train" in BENCHMARKS and sum(BENCHMARKS.values()) == 300.0 and "x StyleGAN2" in RATIO_KEYS



def test_tool_resolution_option_reaches_the_task(monkeypatch):
    import argparse
    import importlib.util

    from gen3d.benchmarks import depthgan_benchmarks
    from tests.conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("benchmark_tool", REPO_ROOT / "tools" / "benchmark.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(["depthgan-train", "--resolution", "16", "32", "--rounds", "16"])
    assert args.resolution == [16, 32]
    sides = []
    monkeypatch.setattr(depthgan_benchmarks, "bench_depthgan_train", lambda dg, sg, s, *a, **k: sides.append(s) or [])
    cpu = torch.device("cpu")
    depthgan_benchmarks.depthgan_train_task(args, cpu)
    depthgan_benchmarks.depthgan_train_task(argparse.Namespace(config=None, batch_size=None, rounds=16,
                                                               resolution=None), cpu)
    assert sides == [(16, 32), depthgan_benchmarks.RESOLUTIONS]
