import math

import pytest
import torch

from gen3d.evaluation.metrics.depthgan_warp import (
    FOCAL_PX,
    YAW_RANGE,
    check_warp_angle,
    check_yaw_range,
    depth_to_metric,
    depthgan_intrinsics,
    rotation_centre,
    warp_by_yaw,
    warp_views,
    yaw_cam2world,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convs: one intra-op thread

H, W = 12, 16  # non-square on purpose
DTYPE = torch.float64


def _pixels() -> tuple[torch.Tensor, torch.Tensor]:
    v, u = torch.meshgrid(torch.arange(H, dtype=DTYPE), torch.arange(W, dtype=DTYPE), indexing="ij")
    return u, v


def _coords_image() -> torch.Tensor:
    """(1, 2, H, W): column and row of every pixel (linear, so bilinear sampling is exact)."""
    u, v = _pixels()
    return torch.stack([u, v])[None]


def _plane_seen_from(angle: float, z0: float, centre: torch.Tensor) -> torch.Tensor:
    """Depth (1, 1, H, W) of the plane z = z0 of view 1 seen by view 2 = T(c) R_y(angle) T(-c) (view 1)."""
    u, v = _pixels()
    rays = torch.stack([(u - W / 2) / FOCAL_PX, (v - H / 2) / FOCAL_PX, torch.ones_like(u)], -1)
    normal = torch.tensor([math.sin(angle), 0.0, math.cos(angle)], dtype=DTYPE)  # R_y(angle) e_z
    return (normal @ centre / (rays @ normal))[None, None]


def test_constants_and_metric_depth():
    assert torch.equal(depthgan_intrinsics(64, 64), torch.tensor([[260.0, 0, 32], [0, 260, 32], [0, 0, 1]]))
    assert torch.allclose(depth_to_metric(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.13, 0.63, 1.13]))
    assert YAW_RANGE == pytest.approx(math.pi / 12)


def test_angle_zero_is_the_identity():
    torch.manual_seed(0)
    depth = depth_to_metric(torch.rand(2, 1, H, W, dtype=DTYPE) * 2 - 1)
    img, src_depth = torch.randn(2, 3, H, W, dtype=DTYPE), depth_to_metric(torch.rand(2, 1, H, W, dtype=DTYPE))
    out = warp_by_yaw(depth, 0.0, img, src_depth)
    assert out.mask.all()
    assert torch.allclose(out.image, img, atol=1e-9)
    assert torch.allclose(out.depth, src_depth, atol=1e-9)
    assert torch.allclose(out.z, depth, atol=1e-12)


def test_planar_scene_rotates_as_the_analytic_answer():
    z0, a = 0.7, 0.2
    depth = torch.full((1, 1, H, W), z0, dtype=DTYPE)
    u, v = _pixels()
    x, y = (u - W / 2) * z0 / FOCAL_PX, (v - H / 2) * z0 / FOCAL_PX
    cx = (x.max() + x.min()) / 2
    assert torch.allclose(rotation_centre(torch.stack([x, y, torch.full_like(x, z0)], -1)[None]),
                          torch.tensor([[cx, 0.0, z0]], dtype=DTYPE))
    # p' = R_y(a) (p - c) + c with R_y(a) = [[cos, 0, sin], [0, 1, 0], [-sin, 0, cos]]
    x2, z2 = cx + math.cos(a) * (x - cx), z0 - math.sin(a) * (x - cx)
    u2, v2 = FOCAL_PX * x2 / z2 + W / 2, FOCAL_PX * y / z2 + H / 2
    centre = torch.tensor([cx, 0.0, z0], dtype=DTYPE)
    src_depth = _plane_seen_from(a, z0, centre)
    out = warp_by_yaw(depth, a, _coords_image(), src_depth)
    assert torch.allclose(out.z[0, 0], z2, atol=1e-12)
    assert out.mask.all()  # rotated about its own centre line, a plane stays in view (foreshortened)
    interior = (u2 >= 0) & (u2 <= W - 1) & (v2 >= 0) & (v2 <= H - 1)
    assert torch.allclose(out.image[0, 0][interior], u2[interior], atol=1e-9)
    assert torch.allclose(out.image[0, 1][interior], v2[interior], atol=1e-9)
    # the sampled depth of view 2's own rendering of the rotated plane agrees with the reprojected depth
    assert torch.allclose(out.depth[0, 0][interior], z2[interior], rtol=1e-6)


def test_any_depth_map_moves_as_its_points():
    torch.manual_seed(0)
    a = -0.2
    depth = depth_to_metric(torch.rand(1, 1, H, W, dtype=DTYPE) * 2 - 1)
    u, v = _pixels()
    z = depth[0, 0]
    x, y = (u - W / 2) * z / FOCAL_PX, (v - H / 2) * z / FOCAL_PX
    cx, cz = (x.max() + x.min()) / 2, (z.max() + z.min()) / 2
    x2 = cx + math.cos(a) * (x - cx) + math.sin(a) * (z - cz)
    z2 = cz - math.sin(a) * (x - cx) + math.cos(a) * (z - cz)
    u2, v2 = FOCAL_PX * x2 / z2 + W / 2, FOCAL_PX * y / z2 + H / 2
    out = warp_by_yaw(depth, a, _coords_image())
    assert out.depth is None
    assert torch.allclose(out.z[0, 0], z2, atol=1e-12)
    inside = (z2 > 0) & (u2 >= -0.5) & (u2 <= W - 0.5) & (v2 >= -0.5) & (v2 <= H - 0.5)
    assert torch.equal(out.mask[0, 0], inside) and 0.1 < inside.double().mean() < 0.9  # part leaves the view
    interior = (u2 >= 0) & (u2 <= W - 1) & (v2 >= 0) & (v2 <= H - 1)
    assert torch.allclose(out.image[0, 0][interior], u2[interior], atol=1e-9)
    assert torch.allclose(out.image[0, 1][interior], v2[interior], atol=1e-9)


def test_rotation_by_plus_then_minus_returns_the_image():
    torch.manual_seed(0)
    z0, a = 0.6, 0.15
    depth_1 = torch.full((1, 1, H, W), z0, dtype=DTYPE)
    u, v = _pixels()
    img_1 = torch.stack([u, v, torch.sin(u / 3) + torch.cos(v / 4)])[None]
    centre = rotation_centre(torch.stack([(u - W / 2) * z0 / FOCAL_PX, v * 0, u * 0 + z0], -1)[None])
    depth_2 = _plane_seen_from(a, z0, centre[0])
    to_2 = warp_by_yaw(depth_2, -a, img_1, centre=centre)  # view 1 seen from view 2 (pixels of view 2)
    interior = to_2.mask & (to_2.grid.abs() <= 1).all(-1)[:, None]  # the half-pixel rim is border-clamped
    source = torch.cat([to_2.image, interior.to(DTYPE)], 1)
    back = warp_by_yaw(depth_1, a, source, centre=centre)  # and back into view 1
    valid = back.mask[0, 0] & (back.grid[0].abs() <= 1).all(-1) & (back.image[0, 3] > 1 - 1e-9)
    assert valid.double().mean() > 0.5
    assert torch.allclose(back.image[0, :2][:, valid], img_1[0, :2][:, valid], atol=1e-4)  # linear: exact
    assert torch.allclose(back.image[0, 2][valid], img_1[0, 2][valid], atol=2e-2)  # two bilinear resamplings


def test_yaw_transforms_compose_to_the_identity():
    angle, centre = torch.tensor([0.3, -0.1]), torch.tensor([[0.1, 0.0, 0.6], [-0.2, 0.0, 0.9]])
    product = yaw_cam2world(angle, centre) @ yaw_cam2world(-angle, centre)
    assert torch.allclose(product, torch.eye(4).expand(2, 4, 4), atol=1e-6)
    fixed = yaw_cam2world(angle, centre) @ torch.cat([centre, torch.ones(2, 1)], 1)[..., None]
    assert torch.allclose(fixed[:, :3, 0], centre, atol=1e-6)  # the centre does not move


def test_occlusion_option_hides_occluded_points():
    z0, a = 0.8, 0.1
    depth = torch.full((1, 1, H, W), z0, dtype=DTYPE)
    u, _ = _pixels()
    centre = rotation_centre(torch.stack([(u - W / 2) * z0 / FOCAL_PX, u * 0, u * 0 + z0], -1)[None])
    src_depth = _plane_seen_from(a, z0, centre[0])
    occluder = (u >= 4) & (u <= 7)
    src_depth[0, 0][occluder] = 0.3  # an object in front of the plane in view 2
    img = torch.randn(1, 3, H, W, dtype=DTYPE)
    plain = warp_by_yaw(depth, a, img, src_depth)
    aware = warp_by_yaw(depth, a, img, src_depth, occlusion_aware=True, occlusion_tol=1e-6)
    u2 = plain.grid[0, ..., 0] * (W - 1) / 2 + (W - 1) / 2
    behind = plain.mask[0, 0] & (u2 >= 4) & (u2 <= 7)
    clear = plain.mask[0, 0] & ((u2 <= 3) | (u2 >= 8))
    assert behind.any() and clear.any()
    assert not aware.mask[0, 0][behind].any()
    assert aware.mask[0, 0][clear].all()
    assert not (aware.mask & ~plain.mask).any()
    with pytest.raises(ValueError, match="source_depth"):
        warp_by_yaw(depth, a, img, occlusion_aware=True)


def test_angle_range_check_names_the_key():
    depth, img = torch.full((1, 1, H, W), 0.5), torch.zeros(1, 3, H, W)
    with pytest.raises(ValueError, match="angle"):
        warp_by_yaw(depth, math.pi / 2, img)
    with pytest.raises(ValueError, match="angle"):
        warp_by_yaw(depth, torch.tensor([float("nan")]), img)
    check_yaw_range(YAW_RANGE)
    check_yaw_range((-YAW_RANGE, YAW_RANGE))
    with pytest.raises(ValueError, match="yaw_range"):
        check_yaw_range(math.pi / 4)
    with pytest.raises(ValueError, match="yaw_range"):
        check_yaw_range((-0.1, math.pi / 2))
    with pytest.raises(ValueError, match="my_key"):
        check_warp_angle(torch.tensor([0.1, -2.0]), key="my_key")
    with pytest.raises(ValueError, match="yaw_range"):
        check_yaw_range(-0.1)


def test_warp_views_maps_normalised_depth_and_carries_gradients():
    torch.manual_seed(0)
    rgbd_1 = torch.cat([torch.randn(2, 3, H, W), torch.rand(2, 1, H, W) * 2 - 1], 1).requires_grad_(True)
    rgbd_2 = torch.cat([torch.randn(2, 3, H, W), torch.rand(2, 1, H, W) * 2 - 1], 1).requires_grad_(True)
    theta_1, theta_2 = torch.tensor([[0.1], [-0.2]]), torch.tensor([[-0.05], [0.2]])
    out = warp_views(rgbd_1, theta_1, rgbd_2, theta_2)
    ref = warp_by_yaw(depth_to_metric(rgbd_1[:, 3:]), (theta_2 - theta_1).flatten(), rgbd_2[:, :3],
                      depth_to_metric(rgbd_2[:, 3:]))
    assert all(torch.equal(x, y) for x, y in zip(out, ref))
    m = out.mask.float()
    ((m * out.depth - m * out.z).abs().mean() + (m * out.image - m * rgbd_1[:, :3]).abs().mean()).backward()
    assert rgbd_1.grad[:, 3].abs().sum() > 0 and rgbd_2.grad[:, 3].abs().sum() > 0
    same = warp_views(rgbd_1, theta_1, rgbd_1, theta_1)
    assert torch.allclose(same.image, rgbd_1[:, :3], atol=1e-4) and same.mask.all()
    wide = warp_views(rgbd_1, theta_1, rgbd_2, theta_2, intrinsics=depthgan_intrinsics(H, W, focal=260 * W / 256))
    assert not torch.equal(wide.grid, out.grid)
