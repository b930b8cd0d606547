"""GeoD losses: pof3d's masked normal L1, D's geometry loss, the NVS L1, the weight schedule and the lazy rule."""

import pytest
import torch
import torch.nn.functional as F

from gen3d.models.gans.geod import geod_due, geod_weight, geometry_loss, masked_normal_l1, nvs_loss


def _normals(n=2, h=5, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, 3, h, w, generator=g), dim=1)


def test_masked_normal_l1_matches_pof3d_formula():
    n_g, n_d = _normals(seed=0), _normals(seed=1)
    mask = (torch.rand(2, 1, 5, 6, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    n_g[:, :, 0, :] = 0  # no rendered normal on the first row: excluded like pof3d's generated_mask
    valid = mask.clone()
    valid[:, :, 0, :] = 0
    expected = ((n_g - n_d).abs() * valid).sum() / valid.sum()
    assert torch.allclose(masked_normal_l1(n_g, n_d, mask), expected)
    assert torch.allclose(masked_normal_l1(n_g, n_g.clone(), mask), torch.tensor(0.0))


def test_masked_normal_l1_ignores_pixels_outside_the_masks():
    n_g, n_d = _normals(seed=0), _normals(seed=1)
    mask = torch.zeros(2, 1, 5, 6)
    mask[:, :, 2:4, 2:4] = 1
    n_d_changed = n_d.clone()
    n_d_changed[:, :, :2] = -n_d_changed[:, :, :2]  # outside the mask
    assert torch.allclose(masked_normal_l1(n_g, n_d, mask), masked_normal_l1(n_g, n_d_changed, mask))
    no_mask = masked_normal_l1(n_g, n_d)
    assert torch.allclose(no_mask, (n_g - n_d).abs().sum() / (2 * 5 * 6))


@pytest.mark.parametrize("detach", [False, True])
def test_masked_normal_l1_target_gradient_follows_detach(detach):
    n_g = _normals(seed=0).requires_grad_(True)
    n_d = _normals(seed=1).requires_grad_(True)
    masked_normal_l1(n_g, n_d, None, detach_target=detach).backward()
    assert n_g.grad.abs().sum() > 0
    assert (n_d.grad is None) == detach


def test_masked_normal_l1_checks_shapes():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        masked_normal_l1(torch.rand(2, 1, 4, 4), torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="differ"):
        masked_normal_l1(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 5, 4))


def test_geometry_loss_masked_l1_with_resize_and_depth():
    pred = dict(normal=_normals(h=4, w=4), depth=torch.full((2, 1, 4, 4), 2.0))
    target = dict(normal=pred["normal"].repeat_interleave(2, -1).repeat_interleave(2, -2),  # 8 x 8 -> nearest 4 x 4
                  depth=torch.full((2, 1, 4, 4), 3.0), mask=torch.ones(2, 1, 4, 4))
    assert torch.allclose(geometry_loss(pred, target), torch.tensor(0.0), atol=1e-6)
    assert torch.allclose(geometry_loss(pred, target, ("normal", "depth"), depth_weight=0.5), torch.tensor(0.5))
    target["mask"] = torch.zeros(2, 1, 4, 4)
    target["mask"][:, :, 0, 0] = 1
    target["normal"] = -pred["normal"]
    expected = (2 * pred["normal"][:, :, :1, :1]).abs().sum() / 2
    assert torch.allclose(geometry_loss(pred, target), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no geometry map"):
        geometry_loss(dict(depth=pred["depth"]), dict(normal=target["normal"]))


def test_geometry_loss_never_trains_the_target():
    pred = dict(normal=_normals().requires_grad_(True))
    target = dict(normal=_normals(seed=3).requires_grad_(True), mask=None)
    geometry_loss(pred, target).backward()
    assert pred["normal"].grad is not None and target["normal"].grad is None


def test_nvs_loss():
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert nvs_loss(a, b) == 1.0
    with pytest.raises(ValueError):
        nvs_loss(a, b[:, :1])


def test_geod_weight_ramps_from_20_to_60_kimg_and_stops_at_2000():
    assert geod_weight(0) == 0.0 and geod_weight(20) == 0.0  # strictly after the start, as pof3d
    assert geod_weight(40) == pytest.approx(0.05)
    assert geod_weight(30) == pytest.approx(0.025)
    assert geod_weight(60) == pytest.approx(0.1)
    assert geod_weight(1500) == pytest.approx(0.1)
    assert geod_weight(2000) == 0.0 and geod_weight(5000) == 0.0
    assert geod_weight(10, start=0.2, ramp_kimg=(5, -1)) == pytest.approx(0.2)  # pof3d normal_end_step == -1
    assert geod_weight(1, start=0.3, ramp_kimg=None) == pytest.approx(0.3)


def test_geod_due_is_lazy_after_its_start():
    assert all(geod_due(i, kimg=10.0, interval=4, interval_start_kimg=50.0) for i in range(8))
    due = [geod_due(i, kimg=100.0, interval=4, interval_start_kimg=50.0) for i in range(8)]
    assert due == [True, False, False, False, True, False, False, False]
    assert all(geod_due(i, kimg=100.0) for i in range(3))
    with pytest.raises(ValueError):
        geod_due(0, 0.0, interval=0)
