"""MultiViewConsistency: registered, built from config; an exactly 3D-consistent render scores ~0, a cheat does not."""

import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.evaluator import Evaluator
from torch import nn

from gen3d.evaluation.metrics.geometry_functional import pinhole_intrinsics, sphere_cam2world, unproject
from gen3d.evaluation.metrics.multiview_metric import RESULT_KEYS, MultiViewConsistency
from gen3d.registry import METRICS

R = 32


class _PlaneGenerator(nn.Module):
    """A textured plane ``z = -1`` in the world, ray-cast exactly from any camera.

    The plane lies behind the orbit centre, so the views differ by parallax; colour is a smooth function of world
    ``(x, y)`` and the latent. ``cheat`` ties the texture to the screen instead (an inconsistent generator).
    """

    z_dim, c_dim, pose_dim, img_resolution, img_channels, fov, depth_kind = 2, 0, 16, R, 3, 30.0, "z"

    def __init__(self, cheat: bool = False, depth_kind: str = "z") -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.cheat, self.depth_kind = cheat, depth_kind
        self.calls = []

    def forward(self, z, c=None, pose=None, noise_mode="random"):
        self.calls.append(pose.shape)
        k = pinhole_intrinsics(self.fov, R, R)
        dirs = unproject(torch.ones(len(z), 1, R, R), k, "z")  # (N, R, R, 3), camera z = -1
        dirs_w = torch.einsum("nij,nhwj->nhwi", pose[:, :3, :3], dirs)
        t = (-1.0 - pose[:, None, None, 2, 3]) / dirs_w[..., 2]  # hit of z = -1
        hit = pose[:, None, None, :3, 3] + t[..., None] * dirs_w
        xy = dirs[..., :2] if self.cheat else hit[..., :2]
        img = torch.stack([torch.sin(6 * xy[..., 0] + z[:, :1, None]), torch.cos(5 * xy[..., 1]),
                           torch.sin(4 * (xy[..., 0] + xy[..., 1]) + z[:, 1:, None])], 1)
        depth = t[:, None] if self.depth_kind == "z" else (t[..., None] * dirs).norm(dim=-1)[:, None]
        return SimpleNamespace(image=img, depth=depth, mask=torch.ones(len(z), 1, R, R))


def test_registered_and_built_from_a_config_dict():
    assert METRICS.get("MultiViewConsistency") is MultiViewConsistency
    m = METRICS.build(dict(type="MultiViewConsistency", yaw_delta=0.2, occlusion="none"))
    assert m.prefix == "multiview" and m.yaw_delta == 0.2 and m.occlusion == "none"
    with pytest.raises(ValueError, match="occlusion"):
        MultiViewConsistency(occlusion="maybe")
    with pytest.raises(ValueError, match="depth_kind"):
        MultiViewConsistency(depth_kind="disparity")


@pytest.mark.parametrize("depth_kind", ["z", "ray"])
def test_a_consistent_generator_scores_near_zero_and_a_screen_space_one_does_not(depth_kind):
    m = METRICS.build(dict(type="MultiViewConsistency", yaw_delta=0.2, yaw_std=0.1))
    good = m.evaluate_generator(_PlaneGenerator(depth_kind=depth_kind), num_samples=3, batch_size=2)
    assert set(good) == set(RESULT_KEYS)
    assert good["mv_photometric_l1"] < 5e-3 and good["mv_depth_rel_error"] < 1e-4
    assert 0.5 < good["mv_valid_fraction"] < 1.0  # the view edges fall outside the other view
    cheat = m.evaluate_generator(_PlaneGenerator(cheat=True, depth_kind=depth_kind), num_samples=3, batch_size=2)
    assert cheat["mv_photometric_l1"] > 20 * good["mv_photometric_l1"] and cheat["mv_photometric_l1"] > 0.03
    assert m.results == [] and m.fov is None


def test_zero_baseline_is_exactly_consistent():
    gen = _PlaneGenerator()
    res = MultiViewConsistency(yaw_delta=0.0).evaluate_generator(gen, num_samples=2)
    assert res["mv_photometric_l1"] < 1e-4 and res["mv_valid_fraction"] == 1.0
    assert gen.calls == [(2, 4, 4), (2, 4, 4)]  # poses as cam2world matrices, two views per batch


def _view_samples(shift=0, n=2):
    gen = _PlaneGenerator()
    a = sphere_cam2world(torch.full((n,), math.pi / 2 - 0.05), torch.full((n,), math.pi / 2))
    b = sphere_cam2world(torch.full((n,), math.pi / 2 + 0.05), torch.full((n,), math.pi / 2))
    z = torch.zeros(n, 2)
    oa, ob = gen(z, None, a), gen(z, None, b)
    img_b = torch.roll(ob.image, shift, dims=3)
    to_u8 = lambda x: ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # noqa: E731
    return [{"fake_img": to_u8(oa.image[i]), "fake_depth": oa.depth[i], "cam2world": a[i],
             "fake_img_b": to_u8(img_b[i]), "fake_depth_b": ob.depth[i], "cam2world_b": b[i],
             "intrinsics": pinhole_intrinsics(30.0, R, R)}
            for i in range(n)]


def test_val_step_style_samples_through_the_evaluator():
    ev = Evaluator(METRICS.build(dict(type="MultiViewConsistency")))
    ev.process(data_samples=_view_samples(), data_batch=None)
    same = ev.evaluate(2)
    assert same["multiview/mv_photometric_l1"] < 1e-2  # uint8 rounding
    ev.process(data_samples=_view_samples(shift=3), data_batch=None)
    assert ev.evaluate(2)["multiview/mv_photometric_l1"] > 5 * same["multiview/mv_photometric_l1"]


def test_mask_and_missing_keys():
    m = MultiViewConsistency()
    samples = _view_samples()
    for s in samples:
        s["fake_mask"] = torch.zeros(1, R, R)
        s["fake_mask"][:, :, : R // 4] = 1
    m.process(None, samples)
    masked = m.compute_metrics(m.results)["mv_valid_fraction"]
    assert 0 < masked <= 0.25
    assert MultiViewConsistency(use_mask=False).evaluate_generator(_PlaneGenerator(), 1)["mv_valid_fraction"] > 0.5
    with pytest.raises(KeyError, match="fake_depth_b"):
        m.process(None, [{k: v for k, v in samples[0].items() if k != "fake_depth_b"}])


def test_pigan_generator_through_the_interface():
    """The real 3D-aware generator, tiny: the keys come out (its consistency is not asserted untrained; an empty
    field renders depth 0, which counts as no surface)."""
    pigan = pytest.importorskip("gen3d.models.gans.pigan.generator")
    torch.manual_seed(0)
    gen = pigan.PiGANGenerator(z_dim=8, hidden_dim=16, n_layers=2, img_resolution=8, num_steps=4, mapping_hidden=16,
                               avg_samples=4)
    res = MultiViewConsistency(use_mask=False).evaluate_generator(gen, num_samples=2)  # untrained opacity may be < 0.5
    assert set(res) == set(RESULT_KEYS) and 0 <= res["mv_valid_fraction"] <= 1
    assert res["mv_valid_fraction"] == 0 or all(math.isfinite(res[k]) for k in RESULT_KEYS)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_photometric_error_is_in_unit_range(dtype):
    """Black against white over identical geometry is an error of exactly 1, for uint8 and for [-1, 1] floats."""
    samples = _view_samples()
    if dtype == torch.uint8:
        black, white = torch.zeros(3, R, R, dtype=dtype), torch.full((3, R, R), 255, dtype=dtype)
    else:
        black, white = torch.full((3, R, R), -1.0), torch.ones(3, R, R)
    for s in samples:
        s.update(fake_img=black, fake_img_b=white, fake_depth_b=s["fake_depth"], cam2world_b=s["cam2world"])
    m = MultiViewConsistency()
    m.process(None, samples)
    res = m.compute_metrics(m.results)
    assert res["mv_photometric_l1"] == pytest.approx(1.0) and res["mv_valid_fraction"] == 1.0
