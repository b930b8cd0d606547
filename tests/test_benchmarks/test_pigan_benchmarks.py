"""``tools/benchmark.py render`` / ``pigan-train`` at the tiniest settings: the rows, never the speed."""

import math

import pytest
import torch

from gen3d.benchmarks.benchmarks import BENCH_TASKS
from gen3d.benchmarks.pigan_benchmarks import (
    PIGAN_COLUMNS,
    RENDER_COLUMNS,
    bench_pigan_train,
    bench_render,
    pigan_at,
    posed_batch,
)
from gen3d.models.gans.data_preprocessor import GANDataPreprocessor

GEN = dict(type="PiGANGenerator", z_dim=8, hidden_dim=8, n_layers=2, mapping_hidden=8, img_resolution=8,
           num_steps=3, avg_samples=16)
MODEL = dict(type="PiGAN", generator=GEN, discriminator=dict(type="PiGANDiscriminator", img_resolution=8,
                                                               width=0.02, latent_dim=0),
             curriculum=[dict(start_iter=0, resolution=4, batch_size=8, num_steps=3, fade_steps=50)])
GEOD = dict(source=dict(type="DatasetGeometry", outputs=("normal",)), outputs=("normal",), head_channels=2,
            weight_end=0.1, ramp_kimg=(0.8, 2.4))


pytestmark = pytest.mark.usefixtures("one_thread")


def _figures(rows, columns):
    return [row[c] for row in rows for c in columns if c not in ("variant", "px")]


def test_posed_batch_carries_the_true_geometry_through_the_preprocessor():
    data = GANDataPreprocessor()(posed_batch(2, 8))
    assert data["inputs"].shape == (2, 3, 8, 8) and data["real_pose"].shape == (2, 2)
    assert data["real_normal"].shape == (2, 3, 8, 8) and data["real_mask"].shape == (2, 1, 8, 8)
    assert data["real_mask"].sum() > 0 and torch.isfinite(data["real_depth"]).all()


def test_pigan_at_resizes_g_d_and_the_curriculum():
    cfg = pigan_at(MODEL, 16, 2, GEOD)
    assert cfg["generator"]["img_resolution"] == cfg["discriminator"]["img_resolution"] == 16
    assert cfg["curriculum"] == [dict(start_iter=0, resolution=16, batch_size=2, num_steps=3, fade_steps=0)]
    assert cfg["geod"] == GEOD and pigan_at(cfg, 8, 2)["geod"] is None and MODEL["generator"]["img_resolution"] == 8


def test_render_rows():
    rows = bench_render(GEN, (8, 16), batch_size=2, rounds=1, warmup=0)
    assert [(r["variant"], r["px"], r["samples/ray"]) for r in rows] == [("render", 8, 6), ("render", 16, 6)]
    assert all(math.isfinite(v) and v > 0 for v in _figures(rows, RENDER_COLUMNS))
    assert rows[0]["x time"] == 1.0 and rows[0]["x rays/s"] == 1.0
    assert rows[1]["rays/s"] == pytest.approx(rows[1]["img/s"] * 16 * 16)


def test_pigan_train_rows_plain_and_geod_at_each_size():
    rows = bench_pigan_train(MODEL, GEOD, (8, 16), batch_size=2, rounds=1, warmup=0)
    assert [(r["variant"], r["px"]) for r in rows] == [("pi-GAN", 8), ("GeoD", 8), ("pi-GAN", 16), ("GeoD", 16)]
    assert all(math.isfinite(v) and v > 0 for v in _figures(rows, PIGAN_COLUMNS))
    assert [r["x pi-GAN"] for r in rows if r["variant"] == "pi-GAN"] == [1.0, 1.0]
    assert all(r["geod_weight"] > 0 for r in rows if r["variant"] == "GeoD")  # G's normal loss on in the timed steps


def test_tasks_are_wired_on_device():
    assert BENCH_TASKS["render"].columns == RENDER_COLUMNS and BENCH_TASKS["pigan-train"].columns == PIGAN_COLUMNS
    assert BENCH_TASKS["render"].on_device and BENCH_TASKS["pigan-train"].on_device
