"""Defect synthesis and the skimage demo dataset."""

import cv2
import numpy as np
import pytest

from gen3d.datasets import MVTecDataset
from gen3d.datasets.anomaly_synthesis import DEFECT_KINDS, MIN_CHANGE, build_demo_dataset, synthesize_defect


def _image(gray: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:64, 0:80]
    img = 80 + 50 * np.sin(xx / 6) * np.cos(yy / 9) + rng.normal(0, 8, (64, 80))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img if gray else np.dstack([img, img[::-1], 255 - img])


@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_mask_marks_the_changed_pixels(kind: str, gray: bool) -> None:
    image = _image(gray)
    original = image.copy()
    out, mask, got = synthesize_defect(image, 7, kind)
    assert got == kind and (image == original).all()  # input untouched
    assert out.shape == image.shape and out.dtype == np.uint8 and mask.shape == image.shape[:2]
    assert set(np.unique(mask).tolist()) == {0, 255}
    diff = np.abs(out.astype(int) - image.astype(int))
    diff = diff.max(axis=2) if diff.ndim == 3 else diff
    inside = mask > 0
    assert inside.sum() >= 12
    assert (diff[~inside] == 0).all()  # nothing changed outside the mask
    # The mask is where it changed; a patch on texture also closes pinholes of pixels that happened to match.
    assert (diff[inside] >= MIN_CHANGE).mean() >= (0.6 if kind == "patch" else 0.9)


def test_synthesis_is_deterministic() -> None:
    a = synthesize_defect(_image(False), 3)
    b = synthesize_defect(_image(False), 3)
    assert a[2] == b[2] and (a[0] == b[0]).all() and (a[1] == b[1]).all()
    with pytest.raises(ValueError, match="unknown defect"):
        synthesize_defect(_image(False), 0, "burn")
    with pytest.raises(ValueError, match="too uniform"):
        synthesize_defect(np.full((32, 32), 90, np.uint8), 0, "patch")


def test_build_demo_dataset(tmp_path) -> None:
    kw = dict(size=64, n_train=5, n_test_good=2, n_test_defect=4, classes=("coffee", "brick"))
    assert build_demo_dataset(tmp_path / "a", **kw) == ["coffee", "brick"]
    build_demo_dataset(tmp_path / "b", **kw)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)  # same seed

    train = MVTecDataset(str(tmp_path / "a"), split="train", val_ratio=0.2)
    test = MVTecDataset(str(tmp_path / "a"), split="test")
    assert test.metainfo["classes"] == ("brick", "coffee")
    assert len(train) == 2 * 4 and len(test) == 2 * 6
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert {r["defect_type"] for r in infos} == {"good", *DEFECT_KINDS}
    for r in infos:
        img = cv2.imread(r["img_path"], cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (64, 64)
        if r["gt_label"]:
            mask = cv2.imread(r["mask_path"], cv2.IMREAD_UNCHANGED)
            assert mask.shape == (64, 64) and (mask > 0).sum() >= 12
    assert cv2.imread(str(tmp_path / "a/brick/train/good/000.png"), cv2.IMREAD_UNCHANGED).ndim == 2  # texture: gray
    with pytest.raises(FileExistsError, match="coffee"):
        build_demo_dataset(tmp_path / "a", **kw)
    build_demo_dataset(tmp_path / "a", overwrite=True, seed=1, **kw)
