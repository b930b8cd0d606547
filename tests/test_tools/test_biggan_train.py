"""tools/train.py on a tiny class-conditional BigGAN over a tiny offline class set: it trains (G and D losses logged,
two D steps per G step), a killed run resumes to identical weights, and tools/test.py reports the FID-proxy."""

import json
import math

import numpy as np
import pytest
import torch

from gen3d.datasets.class_synthesis import CLASSES, DISSIMILAR, SIMILAR_PAIRS, build_class_dataset, render
from gen3d.datasets.gan import ImageFolderDataset
from gen3d.utils import load_local_checkpoint
from tests.conftest import REPO_ROOT, run_tool

BIGGAN_CONFIG = REPO_ROOT / "tests" / "data" / "configs" / "biggan_tiny.py"


@pytest.fixture
def class_root(tmp_path):
    return build_class_dataset(tmp_path / "classes", num_per_class=4, size=16, seed=3)


def test_class_dataset_layout_and_determinism(class_root, tmp_path):
    assert sorted(p.name for p in class_root.iterdir() if p.is_dir()) == list(CLASSES)
    ds = ImageFolderDataset(str(class_root), conditional=True)
    assert ds.metainfo["classes"] == CLASSES and len(ds) == 4 * len(CLASSES)
    assert [r["gt_label"] for r in ds][::4] == list(range(len(CLASSES)))
    assert np.array_equal(render(1, 2, 16, seed=3), render(1, 2, 16, seed=3))
    assert not np.array_equal(render(1, 2, 16, seed=3), render(1, 3, 16, seed=3))
    assert not np.array_equal(render(1, 2, 16, seed=3), render(1, 2, 16, seed=4))
    again = build_class_dataset(tmp_path / "again", num_per_class=4, size=16, seed=3)
    assert (again / "disc" / "00002.png").read_bytes() == (class_root / "disc" / "00002.png").read_bytes()
    assert {c for pair in SIMILAR_PAIRS for c in pair} | set(DISSIMILAR) == set(CLASSES)


def test_similar_classes_are_closer_than_dissimilar_ones():
    """The controlled similarity, measured: the radial log amplitude spectrum (grey, mean of 24 images; invariant
    to position, rotation and colour) of a class is closer to its pair's than to any dissimilar class's."""
    def profile(label, size=32):
        imgs = np.stack([render(label, i, size).mean(2) for i in range(24)]).astype(np.float64)
        imgs -= imgs.mean(axis=(1, 2), keepdims=True)
        amp = np.abs(np.fft.fftshift(np.fft.fft2(imgs), axes=(1, 2))).mean(0)
        yy, xx = np.mgrid[0:size, 0:size] - size // 2
        r = np.round(np.hypot(yy, xx)).astype(int).ravel()
        return np.log((np.bincount(r, amp.ravel()) / np.bincount(r))[1:size // 2])

    prof = {name: profile(k) for k, name in enumerate(CLASSES)}

    def dist(a, b):
        return float(np.abs(prof[a] - prof[b]).mean())

    for a, b in SIMILAR_PAIRS:
        for other in DISSIMILAR:
            assert dist(a, b) < 0.5 * min(dist(a, other), dist(b, other)), (a, b, other)


def test_killed_biggan_training_resumes_to_identical_weights(class_root, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    common = ["--data-root", str(class_root)]
    out = run_tool("train.py", str(BIGGAN_CONFIG), "--work-dir", str(straight), *common)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    for key in ("loss_g", "loss_d", "d_real", "d_fake", "generator.lr", "discriminator.lr"):
        assert key in log, key
    out = run_tool("train.py", str(BIGGAN_CONFIG), "--work-dir", str(killed), *common,
                   "--cfg-options", "custom_hooks.1.kill_at=3")
    assert out.returncode == -9, out.stderr[-3000:]
    assert (killed / "iter_2.pth").exists() and not (killed / "iter_4.pth").exists()
    out = run_tool("train.py", str(BIGGAN_CONFIG), "--work-dir", str(killed), *common, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "do not match exactly" not in out.stdout + out.stderr
    straight_ckpt = load_local_checkpoint(straight / "iter_6.pth")
    a, b = straight_ckpt["state_dict"], load_local_checkpoint(killed / "iter_6.pth")["state_dict"]
    assert a.keys() == b.keys() and int(a["seen_img"]) == 24 and int(a["train_iter"]) == 6
    assert any(k.endswith("running_mean") for k in a) and any(k.endswith("._u") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k].double() - b[k].double()).abs().max()}"
    init = load_local_checkpoint(straight / "iter_2.pth")["state_dict"]
    for net in ("generator.", "discriminator.", "generator_ema."):
        assert any(not torch.equal(init[k], a[k]) for k in a if k.startswith(net)), net
    assert set(straight_ckpt["optimizer"]) >= {"generator", "discriminator"}
    results = tmp_path / "results.json"
    out = run_tool("test.py", str(BIGGAN_CONFIG), str(straight / "iter_6.pth"), *common, "--work-dir",
                   str(tmp_path / "test"), "--out", str(results))
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = {k.rsplit("/", 1)[-1]: v for k, v in json.loads(results.read_text()).items()}
    assert isinstance(metrics["fd_lite0"], float) and math.isfinite(metrics["fd_lite0"])
