
import pytest
import torch

from gen3d.models.rendering import (
    camera_ray_directions,
    normals_from_density,
    normals_from_depth,
    pose_to_cam2world,
    unproject_depth,
)


def _plane_depth(n, p0, res, fov):
    d = camera_ray_directions(res, fov).reshape(*res, 3)
    t = (n * p0).sum() / (d * n).sum(-1)  # ray-plane intersection, distance along unit rays
    return t[None, None], d


def _sphere_depth(center, radius, res, fov):
    d = camera_ray_directions(res, fov).reshape(*res, 3)
    b = (d * center).sum(-1)
    disc = b ** 2 - (center.dot(center) - radius ** 2)
    t = b - disc.clamp_min(0).sqrt()
    return torch.where(disc > 0, t, torch.full_like(t, 10.0))[None, None], d, disc > 0


@pytest.mark.parametrize("kind", ["ray", "z"])
def test_normals_of_a_tilted_plane_are_its_normal(kind):
    res, fov = (9, 11), 30.0
    n_true = torch.nn.functional.normalize(torch.tensor([0.3, -0.2, 1.0]), dim=0)  # faces the camera (+z)
    t, d = _plane_depth(n_true, torch.tensor([0.0, 0.0, -1.0]), res, fov)
    depth = t if kind == "ray" else t * -d[..., 2]
    n = normals_from_depth(depth, fov, depth_kind=kind)
    assert n.shape == (1, 3, 9, 11)
    assert torch.allclose(n[0, :, 1:-1, 1:-1], n_true[:, None, None].expand(3, 7, 9), atol=1e-4)
    border = torch.ones(9, 11, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert torch.allclose(n[0][:, border], torch.tensor([0.0, 0.0, 1.0])[:, None].expand(3, int(border.sum())))


def test_fronto_parallel_plane_points_at_the_camera_and_rotates_to_world():
    fov = 12.0
    t, _ = _plane_depth(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, -1.0]), (5, 5), fov)
    c2w = pose_to_cam2world(torch.tensor([0.3]), torch.tensor([1.2]), 1.0)
    n = normals_from_depth(t, fov, cam2world=c2w)
    origin_dir = c2w[0, :3, 3] / c2w[0, :3, 3].norm()
    assert torch.allclose(n[0, :, 2, 2], origin_dir, atol=1e-5)  # world normal points back at the camera


def test_normals_of_a_sphere_match_the_analytic_normals_inside():
    res, fov, radius = (33, 33), 40.0, 1.0
    center = torch.tensor([0.1, -0.1, -3.0])
    depth, d, hit = _sphere_depth(center, radius, res, fov)
    n = normals_from_depth(depth, fov)[0].permute(1, 2, 0)
    n_true = (depth[0, 0, ..., None] * d - center) / radius
    # interior: the pixel and its 8 neighbours hit the sphere
    ok = torch.nn.functional.max_pool2d((~hit).float()[None, None], 3, 1, 1)[0, 0] == 0
    ok[0], ok[-1], ok[:, 0], ok[:, -1] = False, False, False, False
    assert ok.sum() > 150
    cos = (n[ok] * n_true[ok]).sum(-1)
    assert cos.min() > 0.995 and cos.mean() > 0.9995


def test_unproject_z_depth_lies_on_the_plane():
    p = unproject_depth(torch.full((2, 1, 3, 4), 2.0), 20.0, "z")
    assert p.shape == (2, 3, 4, 3) and torch.allclose(p[..., 2], torch.full((2, 3, 4), -2.0))
    with pytest.raises(ValueError, match="depth_kind"):
        unproject_depth(torch.ones(1, 3, 3), 20.0, "disparity")


def test_density_gradient_normals_of_a_sphere():
    torch.manual_seed(0)
    dirs = torch.nn.functional.normalize(torch.randn(2, 6, 3), dim=-1)
    t = torch.linspace(0.05, 0.15, 5)
    points = (dirs[:, :, None] * t[:, None]).requires_grad_(True)  # (2, 6, 5, 3) around the surface |x| = 0.1
    sigma = 50 * (0.1 - points.norm(dim=-1, keepdim=True))
    weights = torch.rand(2, 6, 5)
    n = normals_from_density(sigma, points, weights)
    assert n.shape == (2, 6, 3)
    assert torch.allclose(n, dirs, atol=1e-5)  # -grad of (r0 - |x|) is the outward radial direction
    n.sum().backward()  # create_graph: differentiable (the field's parameters would get gradients)
