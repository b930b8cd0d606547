"""The offline 3D set: cameras equal to the renderer's, analytic checks of the ray caster, files, determinism."""

import json
import math

import numpy as np
import pytest
import torch

from gen3d.datasets import shape3d_synthesis as s3d
from gen3d.datasets.shape3d_synthesis import Primitive, build_shape3d_dataset, render_view
from gen3d.models.rendering import cameras, normals_from_depth
from gen3d.models.rendering.rays import camera_ray_directions


def _prim(kind: str, size: tuple, centre: tuple = (0, 0, 0), rotation: np.ndarray | None = None) -> Primitive:
    return Primitive(kind, np.asarray(centre, float), np.eye(3) if rotation is None else rotation, size,
                     np.array([0.8, 0.5, 0.2]))


def test_constants_match_cameras():
    assert (s3d.YAW_MEAN, s3d.PITCH_MEAN, s3d.CAMERA_RADIUS) == (cameras.YAW_MEAN, cameras.PITCH_MEAN,
                                                                 cameras.CAMERA_RADIUS)
    assert s3d.PITCH_EPS == cameras.PITCH_EPS and s3d.POSE_MODES == cameras.POSE_MODES


@pytest.mark.parametrize("yaw,pitch,radius", [(math.pi / 2, math.pi / 2, 1.0), (0.3, 1.1, 2.5), (-2.0, 2.9, 0.7),
                                              (4.0, 0.05, 1.3)])
def test_cam2world_and_rays_match_rendering(yaw, pitch, radius):
    ours = s3d.cam2world(yaw, pitch, radius)
    theirs = cameras.pose_to_cam2world(torch.tensor([yaw], dtype=torch.float64), torch.tensor([pitch],
                                       dtype=torch.float64), radius)[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    np.testing.assert_allclose(s3d.ray_directions(7, 23.0), camera_ray_directions(7, 23.0, dtype=torch.float64),
                               atol=1e-12)


@pytest.mark.parametrize("mode", ["normal", "uniform", "sphere"])
def test_pose_distributions_match_cameras(mode):
    n = 20000
    yaw, pitch = s3d.sample_angles(np.random.default_rng(0), n, mode, 1.0, 1.2, 0.4, 0.3)
    tyaw, tpitch = cameras.sample_camera_angles(n, mode, 1.0, 1.2, 0.4, 0.3, generator=torch.Generator().manual_seed(0),
                                                dtype=torch.float64)
    q = np.linspace(0.05, 0.95, 10)
    np.testing.assert_allclose(np.quantile(yaw, q), np.quantile(tyaw.numpy(), q), atol=0.03)
    np.testing.assert_allclose(np.quantile(pitch, q), np.quantile(tpitch.numpy(), q), atol=0.03)


@pytest.mark.parametrize("yaw,pitch", [(math.pi / 2, math.pi / 2), (0.4, 1.0), (3.0, 2.2)])
def test_sphere_at_origin_depth_normal_area(yaw, pitch):
    big_r, r, fov, size = 0.3, 2.0, 30.0, 65  # odd size: the centre pixel's ray is the optical axis
    view = render_view([_prim("sphere", (big_r,))], yaw, pitch, r, fov, size, scale=1.0)
    c = size // 2
    assert view.depth[c, c] == pytest.approx(r - big_r, abs=1e-9)
    np.testing.assert_allclose(view.normal[c, c], [0, 0, 1], atol=1e-9)
    tan = math.tan(math.radians(fov) / 2)
    exact = math.pi * (math.tan(math.asin(big_r / r)) / tan * (size - 1) / 2) ** 2  # silhouette half-angle asin(R/r)
    assert view.mask.sum() == pytest.approx(exact, rel=0.02)
    assert view.mask.sum() == pytest.approx(math.pi * (big_r / (r * tan)) ** 2 * (size / 2) ** 2, rel=0.10)
    # every hit: the point t * d lies on the sphere (centre (0, 0, -r) in camera space), normal (p - c) / R
    dirs = s3d.ray_directions(size, fov).reshape(size, size, 3)
    p = view.depth[..., None] * dirs - np.array([0, 0, -r])
    m = view.mask
    np.testing.assert_allclose(np.linalg.norm(p[m], axis=-1), big_r, atol=1e-6)
    np.testing.assert_allclose(view.normal[m], p[m] / big_r, atol=1e-5)
    assert (view.depth[~m] == 0).all() and (view.normal[~m] == 0).all()


def _implicit(prim: Primitive, p: np.ndarray) -> np.ndarray:
    """Distance-like implicit function of each kind (0 on the surface), local points ``(N, 3)``."""
    if prim.kind == "sphere":
        return np.linalg.norm(p, axis=-1) - prim.size[0]
    if prim.kind == "ellipsoid":
        return np.linalg.norm(p / np.asarray(prim.size), axis=-1) - 1
    if prim.kind == "box":
        return (np.abs(p) - np.asarray(prim.size)).max(-1)
    return s3d._sdf(prim.kind, p, prim.size)[0]


@pytest.mark.parametrize("prim", [
    _prim("ellipsoid", (0.6, 0.3, 0.4), (0.1, 0, 0)), _prim("box", (0.4, 0.3, 0.5)),
    _prim("torus", (0.55, 0.2), rotation=np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])),
    _prim("capsule", (0.4, 0.25), rotation=np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]))])
def test_each_primitive_hits_its_surface_with_consistent_normals(prim):
    size, fov, radius, yaw, pitch = 48, 30.0, 3.0, 1.0, 1.2
    view = render_view([prim], yaw, pitch, radius, fov, size, scale=1.0)
    m = view.mask
    assert 50 < m.sum() < size * size * 0.8
    c2w = s3d.cam2world(yaw, pitch, radius)
    world = c2w[:3, 3] + (view.depth[..., None] * s3d.ray_directions(size, fov).reshape(size, size, 3)) @ c2w[:3, :3].T
    local = (world[m] - prim.centre) @ prim.rotation
    assert np.abs(_implicit(prim, local)).max() < 1e-4
    # normals against the finite-difference normals of gen3d.models.rendering from the same depth (smooth parts)
    fd = normals_from_depth(torch.from_numpy(view.depth)[None, None], fov, "ray")[0].permute(1, 2, 0).numpy()
    inner = m.copy()
    for dy, dx in [(-1, 0), (1, 0), (0, -1), (0, 1)]:
        inner &= np.roll(m, (dy, dx), (0, 1))
    cos = (fd[inner] * view.normal[inner]).sum(-1)
    assert np.median(cos) > 0.995 and (view.normal[m][:, 2] > -0.2).all()


def test_every_class_renders_inside_the_frame():
    for label, name in enumerate(s3d.CLASSES):
        for k in range(4):
            rng = np.random.default_rng([7, label, k])
            view = render_view(s3d.random_object(rng, label), math.pi / 2 + 0.5, math.pi / 2, size=32)
            border = np.concatenate([view.mask[0], view.mask[-1], view.mask[:, 0], view.mask[:, -1]])
            assert view.mask.sum() > 20 and not border.any(), name
            assert view.image[view.mask].std() > 0  # shaded, not flat


def test_build_writes_layout_deterministically(tmp_path):
    a = build_shape3d_dataset(tmp_path / "a", num=4, size=16, seed=3)
    b = build_shape3d_dataset(tmp_path / "b", num=6, size=16, seed=3)
    c = build_shape3d_dataset(tmp_path / "c", num=4, size=16, seed=4)
    for sub in ("images", "depth", "normal", "mask"):
        names = sorted(p.name for p in (a / sub).iterdir())
        assert names == [f"shape_{i:05d}.png" for i in range(4)]
        for name in names:  # image i depends on (seed, i) only
            assert (a / sub / name).read_bytes() == (b / sub / name).read_bytes()
    assert (a / "images/shape_00000.png").read_bytes() != (c / "images/shape_00000.png").read_bytes()


def test_cli(tmp_path, capsys):
    s3d.main([str(tmp_path / "out"), "--num", "2", "--size", "16", "--depth-format", "npy"])
    assert "images/s" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out/depth").iterdir()) == ["shape_00000.npy", "shape_00001.npy"]


def test_fixed_background_keeps_the_objects_and_classes_subset():
    rand, _ = s3d.sample_view(2, 3, 16)
    white, _ = s3d.sample_view(2, 3, 16, background="white")
    assert (white.mask == rand.mask).all() and (white.depth == rand.depth).all()
    assert (white.image[~white.mask] == 255).all() and (white.image[white.mask] == rand.image[white.mask]).all()
    assert {s3d.sample_view(0, i, 8, classes=(1, 3))[1]["label"] for i in range(4)} == {1, 3}
    with pytest.raises(ValueError, match="background"):
        s3d.sample_view(0, 0, 8, background="pink")
    with pytest.raises(ValueError, match="classes"):
        s3d.sample_view(0, 0, 8, classes=(9,))


def test_cli_background_and_classes(tmp_path):
    s3d.main([str(tmp_path / "o"), "--num", "2", "--size", "8", "--background", "grey", "--classes", "ring", "pill"])
    meta = json.loads((tmp_path / "o/poses.json").read_text())
    assert [p["label"] for p in meta["poses"].values()] == [2, 3] and "background=grey" in meta["source"]
