"""tools/gan/generate.py on a tiny DepthGAN checkpoint: RGB | depth grids, a yaw sweep GIF, and the refused flags."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_tool, run_tool_main
from tests.helpers.depthgan import YAW_RANGE, make_tiny_depthgan_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_depthgan_checkpoint(tmp_path_factory.mktemp("depthgan") / "depthgan.pth")


def gif_frames(path) -> list[np.ndarray]:
    gif = Image.open(path)
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("RGB")).astype(int))
    return frames


def test_grid_depth_panels_and_yaw_sweep(ckpt, tmp_path):
    from gen3d.apis.gan_3d import geometry_maps, sweep_poses
    from gen3d.apis.gan_inference import generate_outputs, load_generator, seed_latents, seed_poses, to_uint8
    from gen3d.runtime.colormaps import depth_to_rgb

    out = run_tool("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path), "--seeds", "2-4", "--truncation", "0.7",
                   "--geometry", "--sweep", "yaw", "--frames", "4")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RGB | depth (near bright) for 3 seeds" in out.stdout and "normals" not in out.stdout
    gen = load_generator(str(ckpt))
    z, pose = seed_latents([2, 3, 4], gen.z_dim), seed_poses(gen, [2, 3, 4])
    assert pose.shape == (3, 1) and pose.abs().max() <= YAW_RANGE[1]
    ref = generate_outputs(gen, z, None, pose, 0.7)
    rgb = to_uint8(ref.image).permute(0, 2, 3, 1).numpy()
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (32, 32, 3)  # 3 seeds, 2 per row
    geo = np.asarray(Image.open(tmp_path / "geometry.png"))
    assert geo.shape == (48, 32, 3)  # a row per seed: RGB | depth
    rows = geo.reshape(3, 16, 32, 3)
    assert np.array_equal(rows[:, :, :16], rgb)  # each seed's image at its seeded yaw ...
    assert np.array_equal(rows[:, :, 16:], depth_to_rgb(ref.depth.permute(0, 2, 3, 1).numpy()))  # ... its depth
    frames = gif_frames(tmp_path / "sweep_yaw_0002.gif")
    assert len(frames) == 4 and frames[0].shape == (16, 32, 3)  # RGB | depth
    yaws = sweep_poses(gen, 4, "yaw")
    assert torch.allclose(yaws, torch.tensor([[YAW_RANGE[0]], [0.0], [YAW_RANGE[1]], [0.0]]), atol=1e-6)
    want = geometry_maps(gen, z[:1].expand(4, -1), yaws, 0.7, shared_depth=True).astype(int)  # one depth range
    assert np.abs(np.stack(frames) - want).mean() < 4  # the GIF's palette aside, the sweep's renders
    assert np.abs(frames[0][:, 16:] - frames[2][:, 16:]).mean() > 8  # the depth moves with the camera
    assert torch.allclose(sweep_poses(gen, 2, "yaw", yaw_range=(0.1, 0.2)), torch.tensor([[0.1], [0.2]]))
    with pytest.raises(ValueError, match="needs a camera pitch"):
        sweep_poses(gen, 4, "both")


def test_library_sweep_shows_depth_and_checks_flags(ckpt, tmp_path):
    from gen3d.apis.gan_3d import check_3d_flags, write_3d_outputs
    from gen3d.apis.gan_inference import load_generator, seed_latents

    gen = load_generator(str(ckpt))
    lines = write_3d_outputs(gen, seed_latents([5], gen.z_dim), None, str(tmp_path), [5], sweep="yaw", frames=2)
    assert len(lines) == 1 and Image.open(tmp_path / "sweep_yaw_0005.gif").size == (32, 16)  # depth without geometry
    check_3d_flags(gen, geometry=True, sweep="yaw")
    with pytest.raises(ValueError, match="--sweep both needs a camera pitch"):
        check_3d_flags(gen, sweep="both")
    with pytest.raises(ValueError, match="--pitch-range"):
        check_3d_flags(gen, sweep="yaw", pitch_range=(1.0, 2.0))


@pytest.mark.parametrize("flags, message", [
    (("--sweep", "pitch"), "--sweep pitch needs a camera pitch"),
    (("--mesh", "8"), "--mesh needs a density field"),
    (("--interpolate", "w"), "--interpolate w needs"),
])
def test_refused_flags_name_the_flag(ckpt, tmp_path, flags, message):
    out = run_tool_main("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path / "o"), "--seeds", "0", *flags)
    assert out.returncode != 0 and message in out.stderr and "DepthGANGenerator" in out.stderr
    assert not (tmp_path / "o" / "grid.png").exists()  # refused before anything is written
