"""tools/gan/generate.py on a tiny pi-GAN checkpoint: geometry.png, a camera sweep GIF and a PLY mesh; 2D refuses."""

import numpy as np
import pytest
from PIL import Image

from gen3d.runtime.ply import read_ply
from tests.conftest import run_tool, run_tool_main
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.helpers.pigan import make_tiny_pigan_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_pigan_checkpoint(tmp_path_factory.mktemp("pigan") / "pigan.pth")


def test_sweep_geometry_and_mesh(ckpt, tmp_path):
    from gen3d.apis.gan_3d import density_grid
    from gen3d.apis.gan_inference import load_generator, seed_latents

    gen = load_generator(str(ckpt))
    level = float(density_grid(gen, seed_latents([2], 16), 12)[0].max()) / 2  # a level this random field crosses
    out = run_tool("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path), "--seeds", "2-4", "--geometry",
                   "--sweep", "yaw", "--frames", "4", "--yaw-range", "1.2", "1.9", "--mesh", "12",
                   "--mesh-threshold", str(level))
    assert out.returncode == 0, out.stderr[-3000:]
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (16, 16, 3)  # 3 seeds, 2 per row
    geo = np.asarray(Image.open(tmp_path / "geometry.png"))
    assert geo.shape == (24, 24, 3)  # a row per seed: RGB | depth | normal
    gif = Image.open(tmp_path / "sweep_yaw_0002.gif")
    assert gif.n_frames == 4 and gif.size == (24, 8)
    frames = []
    for k in range(4):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("RGB")))
    assert not np.array_equal(frames[0], frames[2])  # the camera moved
    mesh = read_ply(str(tmp_path / "mesh_0002.ply"))
    assert len(mesh["vertices"]) > 0 and len(mesh["faces"]) > 0 and mesh["colors"].shape[1] == 3
    assert f"{len(mesh['vertices'])} vertices" in out.stdout
    bad = run_tool("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path / "x"), "--seeds", "0", "--mesh", "8",
                   "--mesh-threshold", "1e6")
    assert bad.returncode != 0 and "no surface" in bad.stderr


def test_2d_generator_refuses_3d_flags(tmp_path):
    ckpt = make_tiny_gan_checkpoint(tmp_path / "tiny.pth")
    out = run_tool_main("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path / "o"), "--seeds", "0", "--sweep",
                        "yaw")
    assert out.returncode != 0 and "3D-aware generator" in out.stderr
    assert not (tmp_path / "o" / "grid.png").exists()
