"""The offline rooms set: determinism, planar depth against the analytic room, files, CLI, the loader reads it."""

import json
import math

import numpy as np
import pytest

from gen3d.datasets import RGBDDataset
from gen3d.datasets import rooms_synthesis as rs
from gen3d.datasets.rooms_synthesis import Box, Room, build_rooms_dataset, render_room, sample_view

SIZE = 17


def _room(boxes=(), ceiling=True):
    tex = ("solid", np.full(3, 0.6), np.full(3, 0.4))
    return Room(4.0, 2.6, 4.5, 0.5, ceiling, tex, tex, None, list(boxes), np.array([[0.0, 2.4, -2.0]]),
                np.array([1.0]))


def _direction(size, fov=rs.FOV):
    """``u``, ``v`` of each pixel: camera-space direction ``(u, v, -1)``."""
    d = rs.camera_rays(size, fov).reshape(size, size, 3)
    return d[..., 0], d[..., 1]


def test_fov_is_depthgans_intrinsics():
    assert rs.YAW_RANGE == pytest.approx(math.pi / 12)
    focal = 256 / 2 / math.tan(math.radians(rs.FOV) / 2)
    assert focal == pytest.approx(260.0)  # K = [[260, 0, W/2], [0, 260, H/2], [0, 0, 1]] at 256 px
    d = rs.camera_rays(256).reshape(256, 256, 3)
    assert d[128, 128].tolist() == [0.0, 0.0, -1.0] and d[128, 129, 0] == pytest.approx(1 / 260)


@pytest.mark.parametrize("yaw", [0.0, 0.2, -rs.YAW_RANGE])
def test_planar_depth_of_an_empty_room_is_analytic(yaw):
    size, cam = 16, np.array([0.3, 1.3, 0.0])
    view = render_room(_room(), cam, yaw, size)
    u, v = _direction(size)
    c, s = math.cos(yaw), math.sin(yaw)
    assert view.surface[size // 2, size // 2] == rs.BACK
    assert view.depth[size // 2, size // 2] == pytest.approx(4.5 / c, rel=1e-6)  # the axis meets the back wall
    back = view.surface == rs.BACK
    np.testing.assert_allclose(view.depth[back], 4.5 / (c + s * u[back]), rtol=1e-5)  # z: -t (c + s u) = -4.5
    floor = view.surface == rs.FLOOR
    np.testing.assert_allclose(view.depth[floor], 1.3 / -v[floor], rtol=1e-5)  # y: 1.3 + t v = 0
    right = view.surface == rs.RIGHT
    assert right.any() or yaw > 0
    np.testing.assert_allclose(view.depth[right], (2.0 - 0.3) / (c * u[right] - s), rtol=1e-5)
    ceiling = view.surface == rs.CEILING
    np.testing.assert_allclose(view.depth[ceiling], (2.6 - 1.3) / v[ceiling], rtol=1e-5)
    assert back.sum() + floor.sum() + right.sum() + ceiling.sum() + (view.surface == rs.LEFT).sum() == size * size


def test_a_box_occludes_and_its_front_face_is_analytic():
    box = Box(np.array([-0.5, 0.0, -3.0]), np.array([0.5, 1.5, -2.0]), np.full(3, 0.5), np.full(3, 0.8))
    view = render_room(_room([box]), np.array([0.0, 1.0, 0.0]), 0.0, SIZE)
    hit = view.surface == rs.FIRST_BOX
    assert hit[SIZE // 2, SIZE // 2]
    front = hit & (view.depth < 2.0 + 1e-4)
    np.testing.assert_allclose(view.depth[front], 2.0, rtol=1e-6)  # yaw 0: the face z = -2 is at planar depth 2
    assert (view.depth[hit] < 4.5).all() and front.sum() > 4
    open_top = render_room(_room([box], ceiling=False), np.array([0.0, 1.0, 0.0]), 0.0, SIZE)
    assert (open_top.surface == rs.OPEN).any() and (open_top.depth[open_top.surface == rs.OPEN] == rs.DEPTH_FAR).all()


def test_sampled_views_deterministic_positive_and_consistent():
    a, info = sample_view(5, 3, SIZE)
    b, _ = sample_view(5, 3, SIZE)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.image, sample_view(5, 4, SIZE)[0].image)
    assert not np.array_equal(a.image, sample_view(6, 3, SIZE)[0].image)
    u, _ = _direction(SIZE)
    for i in range(6):
        view, info = sample_view(1, i, SIZE, ceiling="random")
        assert abs(info["yaw"]) <= rs.YAW_RANGE and np.isfinite(view.depth).all() and (view.depth > 0).all()
        assert (view.depth <= rs.DEPTH_FAR).all() and view.image.dtype == np.uint8 and view.image.std() > 0
        c, s = math.cos(info["yaw"]), math.sin(info["yaw"])
        back = view.surface == rs.BACK
        expected = (info["room"].back + info["camera"][2]) / (c + s * u)
        np.testing.assert_allclose(view.depth[back], expected[back], rtol=1e-5)
        boxes = view.surface >= rs.FIRST_BOX
        assert (view.depth[boxes] < expected[boxes] + 1e-6).all()  # furniture stands in front of the back wall


def test_files_cli_and_loader(tmp_path, capsys):
    root = build_rooms_dataset(tmp_path / "a", num=4, size=SIZE, seed=3)
    again = build_rooms_dataset(tmp_path / "b", num=4, size=SIZE, seed=3)
    for sub in ("rgb", "depth"):
        for f in sorted((root / sub).iterdir()):
            assert f.read_bytes() == (again / sub / f.name).read_bytes()
    meta = json.loads((root / "rgbd.json").read_text())
    assert meta["depth_range"] == [0.0, rs.DEPTH_FAR] and meta["depth_kind"] == "planar" and len(meta["yaw"]) == 4
    ds = RGBDDataset(str(root), pipeline=[dict(type="LoadGANImage"), dict(type="LoadRGBDDepth"),
                                          dict(type="PackRGBDInputs")])
    for i in range(4):
        view = sample_view(3, i, SIZE)[0]
        metres = (ds[i]["data_samples"]["depth"][0].numpy() + 1) / 2 * rs.DEPTH_FAR
        np.testing.assert_allclose(metres, view.depth, atol=1 / meta["depth_scale"])
        np.testing.assert_array_equal(ds[i]["inputs"].permute(1, 2, 0).numpy(), view.image)
    rs.main([str(tmp_path / "cli"), "--num", "3", "--size", "8", "--layout", "depthgan"])
    assert "wrote 3 rooms of 8 px" in capsys.readouterr().out
    assert len(list((tmp_path / "cli" / "depth").iterdir())) == 3 and not (tmp_path / "cli" / "rgbd.json").exists()
