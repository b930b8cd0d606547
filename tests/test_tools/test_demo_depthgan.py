"""``make demo-depthgan``: its RotEval reference on real rooms, its table, and the tool end to end at a tiny budget."""

import json
import math

import numpy as np
import pytest

from gen3d.demos import depthgan_demo
from tests.conftest import run_tool


def test_orbit_pairs_are_what_the_warp_assumes_and_beat_turning_in_place_and_two_rooms():
    # the warp against the ray-caster: a camera orbiting the cloud centre is aligned almost exactly (disocclusions,
    # view edges, resampling); turning in place is another motion; two rooms are not aligned at all
    orbit, turn, other = (depthgan_demo.room_pair_roteval(12, size=16, mode=m) for m in depthgan_demo.PAIR_MODES)
    assert orbit["pairs"] == turn["pairs"] == other["pairs"] == 12
    for key in ("roteval_depth", "roteval_rgb"):
        assert 0 < orbit[key] < 0.5 * turn[key] and turn[key] < 0.7 * other[key], (key, orbit, turn, other)
    assert depthgan_demo.room_pair_roteval(12, size=16) == orbit  # seeded; 'orbit' is the default


def test_orbit_camera_turns_about_the_cloud_centre():
    from gen3d.datasets.rooms_synthesis import FOV, render_room, sample_room

    room, camera = sample_room(np.random.default_rng(3))
    depth = render_room(room, camera, 0.0, 16).depth
    assert np.allclose(depthgan_demo.orbit_camera(room, camera, 0.1, 0.1, depth, FOV), camera)  # no turn: no move
    moved = depthgan_demo.orbit_camera(room, camera, 0.0, 0.2, depth, FOV)
    assert moved is not None and moved[0] > camera[0] + 0.05 and moved[1] == camera[1]  # a left turn about a point
    # ahead (yaw > 0 turns the view from -z towards -x) moves the camera to the right
    assert depthgan_demo.orbit_camera(room, camera, 0.0, 3.0, depth, FOV) is None  # would leave the room


def test_room_pair_reference_uses_the_given_focal_length():
    # a focal length far from the rooms' own unprojects them wrongly: orbit pairs lose their alignment
    right = depthgan_demo.room_pair_roteval(8, size=16)
    wrong = depthgan_demo.room_pair_roteval(8, size=16, focal=3.0)
    assert wrong["roteval_depth"] > 3 * right["roteval_depth"], (right, wrong)
    with pytest.raises(ValueError, match="mode must be one of"):
        depthgan_demo.room_pair_roteval(2, mode="spin")


def test_build_rooms_demo_reuses_a_matching_set_only(tmp_path):
    root = depthgan_demo.build_rooms_demo(str(tmp_path / "r"), num=3, size=16)
    first = (root / "rgb" / "room_00000.png").stat().st_mtime_ns
    assert depthgan_demo.build_rooms_demo(str(root), num=3, size=16) == root
    assert (root / "rgb" / "room_00000.png").stat().st_mtime_ns == first
    depthgan_demo.build_rooms_demo(str(root), num=4, size=16)  # another size of set: written again
    assert (root / "rgb" / "room_00003.png").is_file() and len(json.loads((root / "rgbd.json").read_text())["yaw"]) == 4


def test_last_validation_strips_prefixes_and_format_table_marks_absent_metrics():
    rows = [{"iter": 1.0, "FID/fd_lite0": 9.0}, {"iter": 2.0, "FID/fd_lite0": 5.0, "RotEval/roteval_rgb": 0.5,
                                                 "extra": None}]
    result = {"rows": rows}
    last = depthgan_demo.last_validation(result)
    assert last == {"iter": 2.0, "fd_lite0": 5.0, "roteval_rgb": 0.5}
    table = depthgan_demo.format_table({"DepthGAN": last}, {"pairs": {"roteval_rgb": 0.25}}).splitlines()
    assert table[0].split() == ["fd_lite0", "roteval_rgb"]
    assert table[1].split() == ["DepthGAN", "5", "0.5"] and table[2].split() == ["pairs", "-", "0.25"]


@pytest.mark.slow
def test_demo_depthgan_tool_two_iterations(tmp_path):
    out = run_tool("demo_depthgan.py", "--work-dir", str(tmp_path), "--iters", "2", "--evals", "1", "--images", "10",
                   "--pairs", "4", "--sweep-frames", "3", timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    dg, sg = results["runs"]["DepthGAN"], results["runs"]["StyleGAN2 RGB"]
    assert dg["iter"] == sg["iter"] == 2
    for key in ("fd_lite0", "fd_lite0_depth", "roteval_depth", "roteval_rgb", "real_depth_acc", "fake_depth_acc"):
        assert math.isfinite(dg[key]), key
    assert "fd_lite0" in sg and "roteval_rgb" not in sg  # the baseline: RGB only
    assert set(results["references"]) == set(depthgan_demo.REFERENCES)
    assert (tmp_path / "compare_rooms.png").stat().st_size > 1000
    assert list((tmp_path / "depthgan").glob("sweep_yaw_*.gif"))
    assert "loss_rot_depth" in (tmp_path / "depthgan" / "train.log").read_text()  # the DepthGAN arm ran its losses
    assert "StyleGAN2 RGB" in out.stdout and "real rooms: two rooms" in out.stdout
