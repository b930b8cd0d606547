"""gen3d.apis.gan_3d: camera sweeps, RGB | depth | normal panels, the density query and marching-cubes meshes."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from gen3d.apis.gan_3d import density_grid, extract_mesh, geometry_maps, require_3d, sweep_poses
from gen3d.models.gans.pigan import PiGANGenerator
from tests.helpers.gan import ToyDepthGenerator

CENTRE = torch.tensor([0.03, 0.0, -0.01])  # off-centre, so swapped or shifted axes show
TINY = dict(z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8, num_steps=6, mapping_hidden=16, avg_samples=64)


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return PiGANGenerator(**TINY).eval()


class SphereField(nn.Module):
    """A 3D 'generator' whose density is a ball of radius ``r`` around ``CENTRE`` (relu(100 (r - |p - CENTRE|))), red
    on its upper half."""

    z_dim, c_dim, pose_dim, img_resolution, img_channels = 4, 0, 2, 8, 3

    def __init__(self, r: float = 0.08) -> None:
        super().__init__()
        self.r = nn.Parameter(torch.tensor(r))

    def pose_distribution(self) -> dict:  # noqa: D102
        return {"mode": "normal", "yaw_mean": 1.5, "pitch_mean": 1.5, "yaw_std": 0.3, "pitch_std": 0.1,
                "radius": 1.0, "fov": 12.0, "ray_start": 0.88, "ray_end": 1.12}

    def density(self, z, points, truncation_psi=1.0):  # noqa: D102
        return torch.relu(100 * (self.r - (points - CENTRE).norm(dim=-1, keepdim=True)))

    def query(self, z, points, directions=None, truncation_psi=1.0):  # noqa: D102
        rgb = torch.stack([(points[..., 1] > 0).float(), torch.zeros_like(points[..., 0]),
                           torch.zeros_like(points[..., 0])], -1)
        return rgb, self.density(z, points)


def test_density_is_the_fields_sigma(gen):
    z, pts = torch.randn(2, 16), (torch.rand(2, 50, 3) - 0.5) * 0.24
    dirs = torch.zeros_like(pts)
    dirs[..., 2] = -1
    with torch.no_grad():
        sigma = gen.siren(pts, dirs, *gen.mapping(z))[1]
        assert torch.allclose(gen.density(z, pts), torch.relu(sigma))
        assert gen.density(z, pts).shape == (2, 50, 1)
        flat = gen.density(z, pts[:1].expand(2, -1, -1), truncation_psi=0.0)  # psi 0: the average field
        assert torch.allclose(flat[0], flat[1], atol=1e-6) and not torch.allclose(flat, gen.density(z, pts))
    d = gen.pose_distribution()
    assert (gen.fov, d["radius"], d["yaw_mean"], d["order"]) == (12.0, 1.0, math.pi / 2, ["pitch", "yaw"])


def test_sweep_poses(gen):
    p = sweep_poses(gen, 8, "yaw", yaw_range=(1.0, 2.0))
    assert p.shape == (8, 2) and torch.allclose(p[:, 0], torch.tensor(math.pi / 2))  # pitch fixed at the mean
    assert p[0, 1] == pytest.approx(1.0) and p[4, 1] == pytest.approx(2.0) and p[:, 1].min() >= 1.0 - 1e-6
    p = sweep_poses(gen, 8, "pitch")  # default: mean +- 2 std (normal)
    assert p[4, 0] == pytest.approx(math.pi / 2 + 0.31, abs=1e-5) and torch.allclose(p[:, 1], p[:1, 1])
    both = sweep_poses(gen, 8, "both")
    assert both[:, 0].std() > 0 and both[:, 1].std() > 0
    with pytest.raises(ValueError, match="3D-aware"):
        sweep_poses(ToyDepthGenerator(), 4)
    with pytest.raises(ValueError, match="sweep"):
        sweep_poses(gen, 4, "roll")


def test_geometry_maps_follow_the_pose(gen):
    z = torch.randn(1, 16).expand(2, -1)
    pose = torch.tensor([[1.57, 1.2], [1.57, 1.9]])
    panels = geometry_maps(gen, z, pose)
    assert panels.shape == (2, 8, 24, 3) and panels.dtype == np.uint8
    assert not np.array_equal(panels[0], panels[1])  # another camera, another picture
    assert geometry_maps(gen, z, pose, geometry=False).shape == (2, 8, 8, 3)
    with pytest.raises(ValueError, match="3D-aware"):
        require_3d(ToyDepthGenerator(), "a sweep")


def test_mesh_of_a_ball():
    field = SphereField(0.06)
    grid, bounds = density_grid(field, torch.zeros(1, 4), 24)
    assert grid.shape == (24, 24, 24) and bounds == pytest.approx(0.12) and grid[14, 12, 11] > grid[0, 0, 0] == 0
    m = extract_mesh(field, torch.zeros(1, 4), resolution=24, threshold=1.0)
    r = np.linalg.norm(m["vertices"] - CENTRE.numpy(), axis=1)
    assert len(m["faces"]) > 100 and m["faces"].max() < len(m["vertices"])
    assert np.abs(r - 0.05).max() < 0.24 / 23  # the level set |p - CENTRE| = r - 1/100, within a voxel
    assert np.allclose(m["vertices"].mean(0), CENTRE.numpy(), atol=2e-3)
    up = m["vertices"][:, 1] > 0.01
    assert (m["colors"][up, 0] == 255).all() and (m["colors"][~up & (m["vertices"][:, 1] < -0.01), 0] == 0).all()
    with pytest.raises(ValueError, match="no surface"):
        extract_mesh(field, torch.zeros(1, 4), resolution=8, threshold=1e3)


def test_mesh_of_pigan(gen):
    z = torch.randn(1, 16)
    grid, _ = density_grid(gen, z, 10)
    m = extract_mesh(gen, z, resolution=10, threshold=float(grid.max()) / 2)
    assert len(m["vertices"]) > 0 and m["colors"].shape == (len(m["vertices"]), 3)
    assert np.abs(m["vertices"]).max() <= 0.12 + 1e-6
