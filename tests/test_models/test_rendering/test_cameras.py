import math

import pytest
import torch

from gen3d.models.rendering import (
    camera_origins,
    focal_from_fov,
    intrinsics_from_fov,
    look_at_cam2world,
    pose_to_cam2world,
    sample_camera_angles,
)

N = 20000


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_normal_pose_statistics_match_pigan_celeba():
    yaw, pitch = sample_camera_angles(N, "normal", yaw_std=0.3, pitch_std=0.155, generator=_gen())
    assert yaw.shape == pitch.shape == (N,)
    assert abs(yaw.mean() - math.pi / 2) < 0.01 and abs(yaw.std() - 0.3) < 0.01
    assert abs(pitch.mean() - math.pi / 2) < 0.005 and abs(pitch.std() - 0.155) < 0.005


def test_uniform_pose_range_and_std():
    yaw, pitch = sample_camera_angles(N, "uniform", yaw_std=0.5, pitch_std=0.4, generator=_gen(1))
    assert (yaw - math.pi / 2).abs().max() <= 0.5 and (pitch - math.pi / 2).abs().max() <= 0.4
    assert abs(yaw.std() - 0.5 / math.sqrt(3)) < 0.01 and abs(pitch.std() - 0.4 / math.sqrt(3)) < 0.01


def test_sphere_mode_is_uniform_on_the_sphere():
    yaw, pitch = sample_camera_angles(N, "sphere", yaw_std=math.pi, pitch_std=math.pi / 2, generator=_gen(2))
    o = camera_origins(yaw, pitch, 1.0)
    # uniform on the unit sphere: every coordinate has mean 0 and variance 1/3; cos(pitch) = y is uniform on [-1, 1]
    assert o.mean(0).abs().max() < 0.02
    assert (o.var(0) - 1 / 3).abs().max() < 0.01
    hist = torch.histc(o[:, 1], bins=4, min=-1, max=1) / N
    assert (hist - 0.25).abs().max() < 0.015


def test_mean_mode_and_unknown_mode():
    yaw, pitch = sample_camera_angles(3, "mean", yaw_mean=0.1, pitch_mean=0.2)
    assert torch.allclose(yaw, torch.full((3,), 0.1)) and torch.allclose(pitch, torch.full((3,), 0.2))
    with pytest.raises(ValueError, match="pose mode"):
        sample_camera_angles(3, "gaussian")


def test_pitch_is_clamped_away_from_the_poles():
    _, pitch = sample_camera_angles(100, "normal", pitch_mean=0.0, pitch_std=1.0, generator=_gen())
    assert pitch.min() > 0 and pitch.max() < math.pi


def test_default_pose_sits_on_plus_z_and_looks_at_origin():
    c2w = pose_to_cam2world(torch.tensor([math.pi / 2]), torch.tensor([math.pi / 2]), 1.0)
    assert torch.allclose(c2w[0], torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]]), atol=1e-6)


def test_cam2world_is_a_rigid_look_at_frame_without_roll():
    yaw, pitch = sample_camera_angles(16, "uniform", yaw_std=math.pi, pitch_std=1.2, generator=_gen(3))
    radius = torch.rand(16, generator=_gen(4)) + 0.5
    c2w = pose_to_cam2world(yaw, pitch, radius)
    rot, origin = c2w[:, :3, :3], c2w[:, :3, 3]
    assert torch.allclose(rot.transpose(1, 2) @ rot, torch.eye(3).expand(16, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(16), atol=1e-5)
    assert torch.allclose(origin.norm(dim=-1), radius, atol=1e-5)
    assert torch.allclose(-rot[:, :, 2], -origin / radius[:, None], atol=1e-5)  # camera -z towards the origin
    assert rot[:, 1, 0].abs().max() < 1e-5  # right vector horizontal: no roll
    assert (rot[:, 1, 1] > 0).all()  # camera up has a positive world-y component
    assert torch.equal(c2w[:, 3], torch.tensor([0.0, 0, 0, 1]).expand(16, 4))


def test_look_at_other_target():
    origins = torch.tensor([[0.0, 0.0, 2.0]])
    c2w = look_at_cam2world(origins, torch.tensor([[1.0, 0.0, 2.0]]))
    assert torch.allclose(-c2w[0, :3, 2], torch.tensor([1.0, 0, 0]), atol=1e-6)


def test_intrinsics_from_fov():
    assert focal_from_fov(90.0) == pytest.approx(1.0)
    k = intrinsics_from_fov(12.0, 64)
    f = (64 - 1) / 2 / math.tan(math.radians(6))
    assert torch.allclose(k, torch.tensor([[f, 0, 31.5], [0, f, 31.5], [0, 0, 1]]))
    kn = intrinsics_from_fov(12.0, (4, 8), normalized=True)
    assert kn[0, 0] == pytest.approx(1 / math.tan(math.radians(6))) and kn[0, 2] == 0
