"""GeneratorRuntime on a tiny generator bundle: PyTorch parity, truncation, the CLI grid, and no torch on import."""

import cv2
import numpy as np
import pytest

from gen3d.runtime.generation import GeneratorRuntime, make_grid, parse_seeds, seed_latents
from gen3d.runtime.manifest import ManifestError
from tests.helpers.gan import make_tiny_gan_checkpoint
from tests.test_runtime.bundle_helpers import assert_never_imports_torch, build_generator_bundle, run_without_torch


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_gan_checkpoint(tmp_path_factory.mktemp("gan") / "tiny.pth", c_dim=2)


@pytest.fixture(scope="module")
def bundle(ckpt, tmp_path_factory):
    return build_generator_bundle(ckpt, tmp_path_factory.mktemp("gan_bundle"))


def test_matches_pytorch_generator_ema(ckpt, bundle):
    from gen3d.apis.gan_inference import load_generator
    from gen3d.deploy.gan_wrapper import reference_images

    gen = load_generator(str(ckpt))  # generator_ema
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1, batch_size=4)
    assert (rt.z_dim, rt.c_dim, rt.resolution, rt.default_psi) == (16, 2, 16, 1.0)
    z = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)
    for psi, cls in ((1.0, 0), (0.7, 1)):
        c = np.zeros((6, 2), np.float32)
        c[:, cls] = 1
        ref = reference_images(gen, {"z": z, "c": c, "truncation_psi": np.array([psi], np.float32)}, "uint8")
        img = rt.generate(z, psi, cls)
        assert img.dtype == np.uint8 and img.shape == (6, 16, 16, 3)
        assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1
    # seeds: numpy latents, deterministic; the stored default psi is used when none is given
    a = rt.sample([0, 1, 2], class_index=0)
    assert np.array_equal(a, rt.generate(seed_latents([0, 1, 2], 16), 1.0, 0))
    assert np.array_equal(a, rt.sample([0, 1, 2], 1.0, 0)) and not np.array_equal(a[0], a[1])
    with pytest.raises(ValueError, match="class index"):
        rt.sample([0])
    with pytest.raises(ValueError, match=r"z must be"):
        rt.generate(np.zeros((2, 5), np.float32), class_index=0)


def test_truncation_psi_zero_gives_one_image(bundle):
    rt = GeneratorRuntime(bundle, backend="onnxruntime", threads=1)
    img = rt.sample([0, 1, 2, 3], truncation_psi=0.0, class_index=1)
    assert all(np.array_equal(img[0], img[k]) for k in range(1, 4))
    assert not np.array_equal(rt.sample([0, 1], 1.0, 1)[0], rt.sample([0, 1], 1.0, 1)[1])


def test_not_a_generator(tmp_path):
    from tests.test_runtime.bundle_helpers import make_bundle

    with pytest.raises(ManifestError, match="not a generator"):
        GeneratorRuntime(make_bundle(tmp_path))


def test_helpers():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError):
        parse_seeds("a-b")
    grid = make_grid(np.full((3, 2, 2, 3), 9, np.uint8), nrow=2, pad=1)
    assert grid.shape == (5, 5, 3) and grid[0, 0, 0] == 9 and grid[4, 4, 0] == 0


def test_cli_writes_a_grid_without_torch(bundle, tmp_path):
    out = run_without_torch("-c", "import runpy; runpy.run_module('gen3d.runtime', run_name='__main__')", bundle,
                            "--seeds", "0-4", "--class-index", "1", "--truncation-psi", "0.7", "--out-dir",
                            str(tmp_path), "--backend", "onnxruntime", "--threads", "1", "--save-images")
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid.shape == (32, 48, 3)  # 5 images -> 3 per row, 2 rows
    assert len(list(tmp_path.glob("seed*.png"))) == 5
    out = run_without_torch("-c", "import runpy; runpy.run_module('gen3d.runtime', run_name='__main__')", bundle,
                            "--seeds", "0", "--out-dir", str(tmp_path / "x"))
    assert out.returncode == 1 and "class index" in out.stderr


def test_import_never_imports_torch(bundle):
    code = ("import sys\nfrom gen3d.runtime.generation import GeneratorRuntime\n"
            "img = GeneratorRuntime(sys.argv[1]).sample([0, 1], class_index=0)\nassert img.shape == (2, 16, 16, 3)\n")
    assert_never_imports_torch(code, bundle)
