"""gen3d.apis.gan_inference and tools/gan/generate.py on a tiny random StyleGAN2 checkpoint."""

import numpy as np
import pytest
import torch
from PIL import Image

from gen3d.apis.gan_inference import (
    class_onehot,
    generate,
    interpolation_frames,
    load_generator,
    make_grid,
    seed_latents,
    slerp,
    write_animation,
)
from tests.conftest import run_tool
from tests.helpers.gan import make_tiny_gan_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_gan_checkpoint(tmp_path_factory.mktemp("gan") / "tiny.pth")


@pytest.fixture(scope="module")
def cond_ckpt(tmp_path_factory):
    return make_tiny_gan_checkpoint(tmp_path_factory.mktemp("cgan") / "tiny_cond.pth", c_dim=3, channels=1)


def test_seeded_generation_is_deterministic(ckpt):
    gen = load_generator(str(ckpt))
    z = seed_latents([3, 5, 3], gen.z_dim)
    assert torch.equal(z[0], z[2]) and not torch.equal(z[0], z[1])
    imgs = generate(gen, z, batch_size=2)
    assert imgs.dtype == torch.uint8 and imgs.shape == (3, 3, 16, 16)
    assert torch.equal(imgs[0], imgs[2])
    assert not torch.equal(generate(gen, z[:1], truncation_psi=0.0), generate(gen, z[:1]))
    grid = make_grid(imgs, nrow=2, pad=1)
    assert grid.shape == (33, 33, 3) and grid[17:, 17:].max() == 0  # the empty cell stays black


def test_conditional_and_interpolation(cond_ckpt, tmp_path):
    gen = load_generator(str(cond_ckpt))
    with pytest.raises(ValueError, match="class index"):
        class_onehot(gen.c_dim, None, 2)
    c = class_onehot(gen.c_dim, 2, 2)
    assert c.tolist() == [[0, 0, 1], [0, 0, 1]]
    z = seed_latents([0, 1], gen.z_dim)
    for space in ("z", "w"):
        frames = interpolation_frames(gen, z, steps=3, space=space, c=c, truncation_psi=0.7)
        assert frames.shape == (6, 1, 16, 16)
        ref = generate(gen, z[:1], c[:1], truncation_psi=0.7)[0]
        assert (frames[0].int() - ref.int()).abs().max() <= 1  # batched frames: rounding may differ by one level
    gif = write_animation(frames, str(tmp_path / "a.gif"), fps=10, scale=2)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (32, 32)


def test_slerp_endpoints():
    a, b = torch.randn(2, 8), torch.randn(2, 8)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    assert torch.allclose(slerp(a, a, 0.5), a)


def test_generate_tool(ckpt, cond_ckpt, tmp_path):
    out = run_tool("gan/generate.py", str(ckpt), "--out-dir", str(tmp_path), "--seeds", "0-3,7", "--per-image",
                   "--interpolate", "w", "--steps", "2", "--truncation", "0.5")
    assert out.returncode == 0, out.stderr[-3000:]
    assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (32, 48, 3)  # 5 images: 3 a row, 2 rows
    assert (tmp_path / "seed_0007.png").is_file() and (tmp_path / "interp_w.gif").is_file()
    bad = run_tool("gan/generate.py", str(cond_ckpt), "--out-dir", str(tmp_path / "c"))
    assert bad.returncode != 0 and "class index" in bad.stderr


def test_sampling_helpers_sit_below_apis_and_engine():
    """apis re-exports the sampling of gen3d.models.gans.sampling; the engine's GAN hook never imports gen3d.apis."""
    import ast
    import inspect

    import gen3d.apis.gan_inference as api
    import gen3d.engine.hooks.gan_sample_hook as hook
    from gen3d.models.gans import sampling

    assert all(getattr(api, n) is getattr(sampling, n) for n in ("seed_latents", "class_onehot", "generate"))
    tree = ast.parse(inspect.getsource(hook))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert "gen3d.models.gans.sampling" in imported and not [m for m in imported if m and m.startswith("gen3d.apis")]


def test_a_module_without_the_interface_is_refused(tmp_path):
    """load_generator checks the generator interface (z_dim, c_dim, pose_dim, img_resolution, img_channels)."""
    from gen3d.models.gans.generator_output import check_generator

    gen = load_generator(str(make_tiny_gan_checkpoint(tmp_path / "t.pth")))
    assert check_generator(gen) is gen
    del gen.img_channels  # an attribute of the interface missing
    with pytest.raises(TypeError, match="img_channels"):
        check_generator(gen)
