import math

import torch

from gen3d.models.rendering import camera_ray_directions, pose_to_cam2world, rays_to_image, world_rays


def test_camera_rays_span_the_fov_row_major_top_row_first():
    h, w, fov = 3, 5, 12.0
    d = camera_ray_directions((h, w), fov)
    assert d.shape == (h * w, 3)
    assert torch.allclose(d.norm(dim=-1), torch.ones(h * w))
    tan = math.tan(math.radians(fov / 2))
    hit = d / -d[:, 2:]  # on the plane z = -1
    xs, ys = torch.linspace(-1, 1, w) * tan, torch.linspace(1, -1, h) * tan
    assert torch.allclose(hit[:, 0].reshape(h, w), xs.expand(h, w), atol=1e-6)
    assert torch.allclose(hit[:, 1].reshape(h, w), ys[:, None].expand(h, w), atol=1e-6)


def test_rays_of_the_default_pose_hit_known_points_on_the_plane_z0():
    c2w = pose_to_cam2world(torch.tensor([math.pi / 2]), torch.tensor([math.pi / 2]), 1.0)
    o, d = world_rays(c2w, 5, 12.0)
    assert o.shape == d.shape == (1, 25, 3)
    assert torch.allclose(o, torch.tensor([0.0, 0.0, 1.0]).expand(1, 25, 3), atol=1e-6)
    t = -o[..., 2] / d[..., 2]
    p = (o + t[..., None] * d).reshape(5, 5, 3)
    tan = math.tan(math.radians(6))
    assert torch.allclose(p[2, 2], torch.zeros(3), atol=1e-6)  # centre pixel hits the origin at t = 1
    assert torch.allclose(t.reshape(5, 5)[2, 2], torch.tensor(1.0))
    assert torch.allclose(p[0, 0], torch.tensor([-tan, tan, 0.0]), atol=1e-6)  # top-left
    assert torch.allclose(p[4, 4], torch.tensor([tan, -tan, 0.0]), atol=1e-6)  # bottom-right


def test_rays_of_any_pose_hit_the_image_plane_through_the_origin():
    torch.manual_seed(0)
    yaw, pitch, radius = torch.rand(4) * 6, torch.rand(4) * 2.5 + 0.3, torch.rand(4) + 0.5
    c2w = pose_to_cam2world(yaw, pitch, radius)
    o, d = world_rays(c2w, (3, 3), 30.0)
    fwd, right, up = -c2w[:, :3, 2], c2w[:, :3, 0], c2w[:, :3, 1]
    t = radius[:, None] / (d * fwd[:, None]).sum(-1)  # distance to the plane through the origin normal to fwd
    p = o + t[..., None] * d
    tan = math.tan(math.radians(15))
    assert torch.allclose(p[:, 4], torch.zeros(4, 3), atol=1e-5)
    assert torch.allclose(p[:, 2], tan * (right + up) * radius[:, None], atol=1e-5)  # top-right pixel


def test_rays_to_image():
    v = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    img = rays_to_image(v, (2, 3))
    assert img.shape == (2, 3, 2, 3) and img[1, 2, 1, 0] == v[1, 3, 2]
    assert rays_to_image(v[..., 0], (2, 3)).shape == (2, 1, 2, 3)
