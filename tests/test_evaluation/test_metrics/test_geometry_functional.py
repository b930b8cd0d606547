"""Geometry functions against closed forms: angles, aligned depth, reprojection, consistency; cameras = renderer's."""

import math

import pytest
import torch

from gen3d.evaluation.metrics.geometry_functional import (
    align_scale_shift,
    depth_errors,
    multiview_consistency,
    normal_angular_error,
    normals_from_depth,
    pinhole_intrinsics,
    reproject,
    sphere_cam2world,
    unproject,
)
from gen3d.models.rendering.cameras import intrinsics_from_fov, pose_to_cam2world
from gen3d.models.rendering.normals import normals_from_depth as render_normals_from_depth


def _normals(b=2, h=5, w=7, seed=0):
    n = torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))
    return n / n.norm(dim=1, keepdim=True)


def _rot_y(angle):
    c, s = math.cos(angle), math.sin(angle)
    m = torch.eye(4)
    m[:3, :3] = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return m[None]


# ------------------------------------------------------------------ cameras equal the renderer's
def test_cameras_equal_the_renderers_matrices():
    g = torch.Generator().manual_seed(1)
    yaw, pitch = torch.rand(6, generator=g) * 6, torch.rand(6, generator=g) * 3 + 0.05
    assert torch.allclose(sphere_cam2world(yaw, pitch, 1.3), pose_to_cam2world(yaw, pitch, 1.3), atol=1e-6)
    assert torch.equal(pinhole_intrinsics(12.0, 7, 9), intrinsics_from_fov(12.0, (7, 9)))


@pytest.mark.parametrize("kind", ["z", "ray"])
def test_normals_from_depth_equal_the_renderers_inside(kind):
    depth = torch.rand(2, 1, 7, 9, generator=torch.Generator().manual_seed(2)) + 1
    ours = normals_from_depth(depth, intrinsics_from_fov(30.0, (7, 9)), kind)
    theirs = render_normals_from_depth(depth, 30.0, kind)
    assert torch.allclose(ours[..., 1:-1, 1:-1], theirs[..., 1:-1, 1:-1], atol=1e-5)
    assert ours[..., 0, :].abs().sum() == 0  # border invalid
    plane = normals_from_depth(torch.ones(1, 1, 5, 5), intrinsics_from_fov(12.0, 5), "z")
    assert torch.allclose(plane[0, :, 2, 2], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)  # faces the camera


# ------------------------------------------------------------------ normals
def test_identical_normals_zero_and_quarter_turn_ninety():
    n = _normals()
    same = normal_angular_error(n, n)
    assert same["mean"] == pytest.approx(0.0, abs=1e-4) and same["median"] == pytest.approx(0.0, abs=1e-4)
    assert same["within_11_25"] == same["within_22_5"] == same["within_30"] == 1.0
    rotated = torch.stack([-n[:, 1], n[:, 0], n[:, 2] * 0], 1)  # 90 deg about z of the xy part, z dropped
    flat = torch.cat([n[:, :2], torch.zeros_like(n[:, :1])], 1)
    quarter = normal_angular_error(rotated, flat)
    assert quarter["mean"] == pytest.approx(90.0, abs=1e-3) and quarter["median"] == pytest.approx(90.0, abs=1e-3)
    assert quarter["within_30"] == 0.0


def test_normal_mask_and_zero_ground_truth_respected():
    n = _normals()
    bad = -n  # 180 degrees everywhere
    mask = torch.zeros(2, 1, 5, 7, dtype=torch.bool)
    mask[:, :, :2] = True
    mixed = torch.where(mask, n, bad)
    assert normal_angular_error(mixed, n, mask)["mean"] == pytest.approx(0.0, abs=1e-4)
    assert normal_angular_error(mixed, n)["mean"] == pytest.approx(180.0 * 3 / 5, abs=1e-3)
    gt = torch.where(mask, n, torch.zeros_like(n))  # missing GT where zero
    res = normal_angular_error(mixed, gt)
    assert res["mean"] == pytest.approx(0.0, abs=1e-4) and res["count"] == 2 * 2 * 7


def test_within_fractions_of_known_angles():
    angles = torch.tensor([5.0, 15.0, 25.0, 40.0]).deg2rad()
    gt = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 4)
    pred = torch.stack([angles.sin(), torch.zeros(4), angles.cos()]).view(1, 3, 1, 4)
    res = normal_angular_error(pred, gt)
    assert res["mean"] == pytest.approx(21.25, abs=1e-3) and res["median"] in (pytest.approx(15.0, abs=1e-3),)
    assert (res["within_11_25"], res["within_22_5"], res["within_30"]) == (0.25, 0.5, 0.75)


# ------------------------------------------------------------------ depth
def test_scaled_and_shifted_depth_aligns_to_zero_error():
    gt = torch.rand(3, 1, 6, 8, generator=torch.Generator().manual_seed(3)) + 0.5
    pred = (gt - 1) / 2  # gt = 2 * pred + 1
    aligned, scale, shift = align_scale_shift(pred, gt)
    assert torch.allclose(scale, torch.full((3,), 2.0), atol=1e-5) and torch.allclose(shift, torch.ones(3), atol=1e-5)
    assert torch.allclose(aligned, gt, atol=1e-5)
    err = depth_errors(pred, gt)
    assert err["absrel"].max() < 1e-5 and err["rmse"].max() < 1e-5 and (err["delta1"] == 1).all()
    raw = depth_errors(pred, gt, align=False)
    assert raw["absrel"].min() > 0.5


def test_depth_mask_respected_and_closed_form():
    gt = torch.full((1, 1, 2, 2), 2.0)
    pred = torch.tensor([[[[2.0, 3.0], [100.0, 2.0]]]])
    mask = torch.tensor([[[[True, True], [False, True]]]])
    err = depth_errors(pred, gt, mask, align=False)
    assert err["absrel"].item() == pytest.approx(0.5 / 3) and err["rmse"].item() == pytest.approx(math.sqrt(1 / 3))
    assert err["delta1"].item() == pytest.approx(2 / 3) and err["count"].item() == 3
    gt_missing = torch.where(mask, gt, torch.zeros_like(gt))  # gt <= 0 is missing too
    assert depth_errors(pred, gt_missing, align=False)["absrel"].item() == pytest.approx(0.5 / 3)


def test_constant_prediction_aligns_to_the_mean():
    gt = torch.arange(4.0).view(1, 1, 2, 2) + 1
    aligned, scale, _ = align_scale_shift(torch.ones_like(gt), gt)
    assert scale.item() == 0 and torch.allclose(aligned, torch.full_like(gt, 2.5))


# ------------------------------------------------------------------ reprojection
@pytest.mark.parametrize("camera", ["opengl", "opencv"])
@pytest.mark.parametrize("kind", ["z", "ray"])
def test_pure_yaw_moves_the_middle_row_by_the_tangent_rule(camera, kind):
    """A fronto-parallel plane, camera B = A turned by alpha about y: a pixel at angle theta lands at theta + alpha."""
    h = w = 9
    k = intrinsics_from_fov(40.0, h)
    depth_z = torch.full((1, 1, h, w), 2.0)
    depth = depth_z if kind == "z" else unproject(depth_z, k, "z", camera).norm(dim=-1)[:, None]
    alpha = 0.1
    rot = _rot_y(alpha if camera == "opengl" else -alpha)  # the same physical turn to the left in both frames
    rep = reproject(depth, torch.eye(4)[None], rot, k, kind, camera)
    f, c = k[0, 0].item(), k[0, 2].item()
    theta = torch.atan((torch.arange(w) - c) / f)
    expected_u = c + f * torch.tan(theta + alpha)
    row = h // 2
    inside = expected_u <= w - 0.5
    assert torch.allclose(rep.uv[0, row, :, 0], expected_u, atol=1e-3)
    assert torch.allclose(rep.uv[0, row, :, 1], torch.full((w,), float(row)), atol=1e-4)
    assert torch.equal(rep.valid[0, 0, row], inside) and not inside.all()
    expected_z = 2.0 / torch.cos(theta) * torch.cos(theta + alpha)  # depth of the point along B's axis
    got = rep.depth[0, 0, row] if kind == "z" else rep.depth[0, 0, row] * torch.cos(theta + alpha)
    assert torch.allclose(got, expected_z, atol=1e-4)


def test_orbit_about_the_origin_keeps_the_centre():
    """Cameras on the unit sphere looking at the origin; the plane z = 0 through it: the centre stays the centre."""
    k = intrinsics_from_fov(12.0, 9)
    a = pose_to_cam2world(torch.tensor([math.pi / 2]), torch.tensor([math.pi / 2]), 1.0)
    b = pose_to_cam2world(torch.tensor([math.pi / 2 + 0.2]), torch.tensor([math.pi / 2]), 1.0)
    rep = reproject(torch.ones(1, 1, 9, 9), a, b, k, "z")
    assert torch.allclose(rep.uv[0, 4, 4], torch.tensor([4.0, 4.0]), atol=1e-4)
    assert rep.depth[0, 0, 4, 4].item() == pytest.approx(1.0, abs=1e-5)


def test_behind_the_camera_is_invalid():
    k = intrinsics_from_fov(40.0, 5)
    rep = reproject(torch.ones(1, 1, 5, 5), torch.eye(4)[None], _rot_y(math.pi), k)
    assert not rep.valid.any()


# ------------------------------------------------------------------ consistency
def _scene(h=12, w=12, seed=4):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 3, h, w, generator=g)
    depth = torch.rand(1, 1, h, w, generator=g) * 0.2 + 1.0
    return img, depth, intrinsics_from_fov(30.0, (h, w))


def test_identical_views_are_consistent_and_a_shift_is_not():
    img, depth, k = _scene()
    eye = torch.eye(4)[None]
    same = multiview_consistency(img, depth, img, depth, eye, eye, k)
    assert same["photometric_l1"].item() < 1e-4 and same["depth_rel_error"].item() < 1e-5
    assert same["valid_fraction"].item() == 1.0
    shifted = torch.roll(img, 1, dims=3)
    moved = multiview_consistency(img, depth, shifted, depth, eye, eye, k)
    assert moved["photometric_l1"].item() > 0.1
    mask = torch.zeros(1, 1, 12, 12, dtype=torch.bool)
    half = multiview_consistency(img, depth, img, depth, eye, eye, k, mask_a=mask)
    assert half["num_valid"].item() == 0 and half["photometric_l1"].item() == 0


def test_rendered_pair_of_a_plane_is_consistent_under_rotation():
    """A textured plane seen from two yawed cameras: warping B's render into A reproduces A where both see it."""
    h = w = 32
    k = intrinsics_from_fov(40.0, h)
    b_pose = _rot_y(0.1)
    depth = torch.full((1, 1, h, w), 2.0)
    points_a = unproject(depth, k)  # on the plane z = -2 in A's (= world) frame

    def texture(x):  # smooth colour of world x on the plane
        return torch.stack([torch.sin(3 * x), torch.cos(2 * x), x], 1)

    img_a = texture(points_a[..., 0])
    # B's render: each B pixel's ray hits the plane z = -2 (world); colour by its world x
    dirs_b = unproject(torch.ones(1, 1, h, w), k)  # z = -1 in B
    dirs_w = torch.einsum("ij,bhwj->bhwi", b_pose[0, :3, :3], dirs_b)
    t = -2.0 / dirs_w[..., 2]
    img_b = texture(t * dirs_w[..., 0])
    depth_b = (t * dirs_b[..., 2].neg())[:, None]  # planar depth in B
    res = multiview_consistency(img_a, depth, img_b, depth_b, torch.eye(4)[None], b_pose, k)
    assert res["valid_fraction"].item() > 0.5
    assert res["photometric_l1"].item() < 2e-3 and res["depth_rel_error"].item() < 1e-4
    wrong = multiview_consistency(img_a, depth * 1.5, img_b, depth_b, torch.eye(4)[None], b_pose, k)
    assert wrong["depth_rel_error"].item() > 0.1


def test_zbuffer_drops_self_occluded_pixels():
    """B moved sideways so that a near point of A hides a far one: only the far pixel is dropped."""
    img, _, k = _scene(h=9, w=9)
    f = k[0, 0].item()
    d = torch.full((1, 1, 9, 9), 2.0)
    d[..., 4, 4] = 1.0  # near: column 4 -> 4 - f tx; far column 2 -> 2 - f tx / 2, the same for f tx = 4
    b_pose = torch.eye(4)[None].clone()
    b_pose[0, 0, 3] = 4.0 / f
    rep = reproject(d, torch.eye(4)[None], b_pose, k)
    assert torch.allclose(rep.uv[0, 4, 4], rep.uv[0, 4, 2], atol=1e-4) and rep.valid[0, 0, 4, [2, 4]].all()
    none = multiview_consistency(img, d, img, d, torch.eye(4)[None], b_pose, k, occlusion="none")
    zbuf = multiview_consistency(img, d, img, d, torch.eye(4)[None], b_pose, k)
    assert none["num_valid"].item() - zbuf["num_valid"].item() == 1
    with pytest.raises(ValueError, match="occlusion"):
        multiview_consistency(img, d, img, d, b_pose, b_pose, k, occlusion="nope")


def test_depthgan_style_rotation_about_the_point_cloud_centre():
    """RotEval's warp (OpenCV frame, K with c = W / 2, rotation about the centre c): the closed form of each point."""
    h = w = 16
    k = torch.tensor([[20.0, 0.0, w / 2], [0.0, 20.0, h / 2], [0.0, 0.0, 1.0]])
    depth = torch.full((1, 1, h, w), 2.0)
    centre = torch.tensor([0.0, 0.0, 2.0])
    theta = 0.2
    shift = torch.eye(4)
    shift[:3, 3] = centre
    unshift = torch.eye(4)
    unshift[:3, 3] = -centre
    moved = shift @ _rot_y(theta)[0] @ unshift  # world (= A's camera) -> B's camera
    rep = reproject(depth, torch.eye(4)[None], torch.linalg.inv(moved)[None], k, "z", "opencv")
    p = unproject(depth, k, "z", "opencv")[0, h // 2]  # (W, 3) the middle row
    q = (moved[:3, :3] @ p.T).T + moved[:3, 3]
    assert torch.allclose(rep.uv[0, h // 2, :, 0], k[0, 0] * q[:, 0] / q[:, 2] + k[0, 2], atol=1e-4)
    assert torch.allclose(rep.uv[0, h // 2, w // 2], torch.tensor([w / 2, h / 2]), atol=1e-5)  # the centre stays
    assert torch.allclose(rep.depth[0, 0, h // 2], q[:, 2], atol=1e-5)


def test_zero_depth_is_no_surface():
    img, depth, k = _scene()
    depth = depth.clone()
    depth[..., :6] = 0.0
    eye = torch.eye(4)[None]
    res = multiview_consistency(img, depth, img, depth, eye, eye, k)
    assert res["valid_fraction"].item() == 0.5
