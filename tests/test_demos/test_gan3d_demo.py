"""The pieces of ``make demo-3d``: the geometry probe, the scores of a generator's shapes, the parallel runs."""

import json
import math

import pytest
import torch
from torch import nn

from gen3d.datasets.shape3d_synthesis import build_shape3d_dataset
from gen3d.demos import gan3d_demo, geometry_probe
from gen3d.demos.geometry_probe import GeometryProbe, load_geometry_set, score_generator, train_probe
from gen3d.models.gans.sampling import generate_outputs, seed_latents, seed_poses
from gen3d.registry import MODELS


@pytest.fixture(scope="module")
def shapes16(tmp_path_factory):
    return build_shape3d_dataset(tmp_path_factory.mktemp("s3d"), num=10, size=16, background="white")


def test_load_geometry_set_reads_the_true_geometry(shapes16):
    data = load_geometry_set(shapes16)
    assert data["image"].shape == (10, 3, 16, 16) and data["image"].min() >= -1 and data["image"].max() <= 1
    m = data["mask"]
    assert m.any() and (data["depth"][m] > 0.8).all() and (data["depth"][~m] == 0).all()
    norm = data["normal"].norm(dim=1, keepdim=True)
    assert torch.allclose(norm[m], torch.ones(()), atol=0.02)


def test_probe_learns_geometry_and_reports_held_out_error(shapes16):
    _, before = train_probe(shapes16, iters=0, batch_size=4, progress=False)
    probe, after = train_probe(shapes16, iters=40, batch_size=8, lr=3e-3, progress=False)
    assert after["train_images"] == 8 and after["test_images"] == 2
    assert after["normal_mean_deg"] < before["normal_mean_deg"] - 5, (before, after)
    assert 0 <= after["mask_iou"] <= 1 and math.isfinite(after["depth_absrel"])
    assert not probe.training


def test_mirror_flips_maps_and_the_normal_x():
    batch = {"image": torch.arange(4.0).view(1, 1, 1, 4).expand(2, 3, 1, 4), "normal": torch.ones(2, 3, 1, 4)}
    out = geometry_probe._mirror(batch, torch.tensor([True, False]))
    assert out["image"][0, 0, 0].tolist() == [3, 2, 1, 0] and out["image"][1, 0, 0].tolist() == [0, 1, 2, 3]
    assert out["normal"][0, :, 0, 0].tolist() == [-1, 1, 1] and out["normal"][1, :, 0, 0].tolist() == [1, 1, 1]


class _EchoProbe(GeometryProbe):
    """Reads back fixed maps (the generator's own, or altered ones), whatever the image."""

    def __init__(self, maps: dict, resolution: int) -> None:
        nn.Module.__init__(self)
        self.resolution, self.maps = resolution, maps

    def forward(self, img):
        return self.maps


def _tiny_pigan():
    from mmengine.config import Config

    from tests.helpers.pigan import TINY_PIGAN_CFG

    torch.manual_seed(0)
    return MODELS.build(Config.fromstring(TINY_PIGAN_CFG, file_format=".py").model.to_dict()).generator_ema.eval()


def test_score_generator_compares_rendered_and_probe_geometry():
    gen = _tiny_pigan()
    seeds = list(range(6))
    out = generate_outputs(gen, seed_latents(seeds, gen.z_dim), None, seed_poses(gen, seeds), 1.0, "const", 3)
    fg, stop = torch.ones_like(out.depth), out.depth / out.mask.clamp_min(1e-3)  # where the rays stop
    same = score_generator(gen, _EchoProbe({"normal": out.normal, "depth": stop, "mask_logit": fg}, 8), num=6,
                           batch_size=3)
    assert same["normal_mean_deg"] < 0.5 and same["depth_absrel"] < 1e-5 and same["foreground"] == 1.0
    flipped = score_generator(gen, _EchoProbe({"normal": -out.normal, "depth": stop * 1.1, "mask_logit": fg},
                                              8), num=6, batch_size=3)
    assert flipped["normal_mean_deg"] > 179 and flipped["depth_absrel"] == pytest.approx(0.1 / 1.1, rel=1e-3)
    with pytest.raises(ValueError, match="16 px"):
        score_generator(gen, GeometryProbe(16), num=2)


def test_demo_dataset_is_written_once(tmp_path):
    root = gan3d_demo.build_demo3d_dataset(str(tmp_path / "d"), num=3, size=8)
    stamp = (root / "poses.json").stat().st_mtime_ns
    assert gan3d_demo.build_demo3d_dataset(str(root), num=3, size=8) == root
    assert (root / "poses.json").stat().st_mtime_ns == stamp
    gan3d_demo.build_demo3d_dataset(str(root), num=4, size=8)  # other settings: rewritten
    assert len(json.loads((root / "poses.json").read_text())["poses"]) == 4


def test_train_parallel_runs_every_config_and_names_a_failed_one(tmp_path):
    from tests.helpers.demo3d_child import failing_train, fake_train

    runs = {"pi-GAN": "a.py", "pi-GAN + GeoD": "b.py"}
    res = gan3d_demo.train_parallel(runs, str(tmp_path), "DATA", 5, 1, poll_s=0.05, target=fake_train, seed=7)
    assert sorted(res) == sorted(runs)
    assert res["pi-GAN"]["seed"] == 7 and res["pi-GAN + GeoD"]["config"] == "b.py"
    assert res["pi-GAN + GeoD"]["work_dir"].endswith("pi_gan_geod")
    assert gan3d_demo._last_iter(res["pi-GAN"]["log"]) == 5
    with pytest.raises(RuntimeError, match="pi-GAN.*exit 3(.|\n)*bad config key"):
        gan3d_demo.train_parallel({"pi-GAN": "a.py"}, str(tmp_path / "f"), "DATA", 2, 1, poll_s=0.05,
                                  target=failing_train)
