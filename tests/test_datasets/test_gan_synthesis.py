"""The offline GAN demo set built from scikit-image's LFW faces."""

import cv2
import numpy as np
import pytest

from gen3d.datasets import ImageFolderDataset
from gen3d.datasets.gan_synthesis import N_FACES, build_gan_demo_dataset, lfw_faces


def test_lfw_faces_are_the_first_hundred():
    import skimage.data

    faces = lfw_faces()
    assert faces.shape == (N_FACES, 25, 25) and faces.dtype == np.uint8
    raw = skimage.data.lfw_subset()
    assert np.allclose(faces / 255.0, raw[:N_FACES], atol=1 / 255)


def test_build_with_holdout(tmp_path):
    root = build_gan_demo_dataset(tmp_path / "faces", resolution=16, n_holdout=10)
    train = sorted((root / "train").glob("*.png"))
    held = sorted((root / "holdout").glob("*.png"))
    assert len(train) == 90 and len(held) == 10
    assert not {p.name for p in train} & {p.name for p in held}
    img = cv2.imread(str(train[0]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (16, 16, 3) and np.array_equal(img[..., 0], img[..., 2])
    assert "Limited-data" in (root / "README.txt").read_text()
    assert len(ImageFolderDataset(str(root / "train"))) == 90
    again = build_gan_demo_dataset(root, resolution=16, channels=1)  # rebuild without holdout: no stale files
    assert len(list((again / "train").glob("*.png"))) == N_FACES
    assert not list((again / "holdout").glob("*.png"))
    assert cv2.imread(str(train[0]), cv2.IMREAD_UNCHANGED).shape == (16, 16)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="channels"):
        build_gan_demo_dataset(tmp_path, channels=2)
    with pytest.raises(ValueError, match="n_holdout"):
        build_gan_demo_dataset(tmp_path, n_holdout=100)
