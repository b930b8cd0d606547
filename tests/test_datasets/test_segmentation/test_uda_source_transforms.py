"""DAFormer / FST GTA5 source steps: mmseg's keep-ratio Resize and RandomCrop(cat_max_ratio) (seg_geometry.py)."""

import albumentations as A
import cv2
import numpy as np
import pytest
from PIL import Image

from gen3d.datasets.segmentation import GTA5Dataset
from gen3d.datasets.transforms import CatMaxRatioCrop, SegKeepRatioResize, SegWeakAug
from gen3d.datasets.transforms.seg_geometry import CAT_MAX_RATIO_TRIES, crop_is_diverse, rescale_size
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT

SIDE, CROP = 40, (16, 16)
BLOCK = (slice(16, 28), slice(12, 24))  # 144 px of class 1 in 1600: class 0 covers 91 %


def _coords_results(mask: np.ndarray) -> dict:
    """An image whose channels 0/1 hold the row/column index, so a crop tells its own offset."""
    h, w = mask.shape
    rows, cols = np.mgrid[:h, :w]
    img = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    return dict(img=img, gt_seg_map=mask.copy(), img_shape=(h, w))


def _block_mask() -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[BLOCK] = 1
    return mask


def _share(mask: np.ndarray) -> float:
    counts = np.bincount(mask[mask != 255].ravel())
    return counts.max() / counts.sum()


@pytest.fixture
def drawn_boxes(monkeypatch):
    """Record every ``RandomCrop`` box draw as ``(image shape, (x1, y1, x2, y2))``."""
    boxes: list = []
    draw = A.RandomCrop.get_params_dependent_on_data

    def recording(self, params, data):
        out = draw(self, params, data)
        boxes.append((tuple(params["shape"][:2]), tuple(out["crop_coords"])))
        return out

    monkeypatch.setattr(A.RandomCrop, "get_params_dependent_on_data", recording)
    return boxes


@pytest.mark.parametrize("seed", [0, 7])
def test_cat_max_ratio_off_is_the_former_compose_bitwise(seed):
    h, w = 17, 23
    reference = A.Compose([  # SegWeakAug's compose before cat_max_ratio existed
        A.RandomScale(scale_limit=(-0.5, 1.0), interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                      p=1.0),
        A.PadIfNeeded(min_height=h, min_width=w, position="top_left", border_mode=cv2.BORDER_CONSTANT, fill=0.0,
                      fill_mask=255),
        A.RandomCrop(height=h, width=w),
        A.HorizontalFlip(p=0.5),
    ], seed=seed)
    aug = SegWeakAug(crop_size=(h, w), seed=seed)
    assert aug.cat_max_ratio == 1.0
    rng = np.random.default_rng(seed)
    for i in range(8):
        img = rng.integers(0, 256, (30 + i, 41, 3), dtype=np.uint8)
        mask = rng.integers(0, 3, img.shape[:2], dtype=np.uint8)  # often one class >= 75 %: must not matter
        mask[: 20 + i] = 0
        ref = reference(image=img, mask=mask)
        out = aug(dict(img=img, gt_seg_map=mask))
        np.testing.assert_array_equal(out["img"], ref["image"])
        np.testing.assert_array_equal(out["gt_seg_map"], ref["mask"])


def test_crop_acceptance_matches_mmseg():
    mask = _block_mask()
    assert not crop_is_diverse(mask, (0, 0, 16, 16), 0.75, 255)  # one class only
    assert crop_is_diverse(mask, (12, 16, 28, 32), 0.75, 255)  # 144 of 256 px class 1
    assert not crop_is_diverse(np.full((8, 8), 255, np.uint8), (0, 0, 8, 8), 0.75, 255)  # all ignore
    half = np.zeros((8, 8), np.uint8)
    half[:2] = 1  # 16 of 64 px: the largest class has exactly 0.75, not below it
    assert not crop_is_diverse(half, (0, 0, 8, 8), 0.75, 255)
    half[:, :4][2:3] = 255  # ignore pixels leave the counts: 16 vs 44 non-ignore
    assert crop_is_diverse(half, (0, 0, 8, 8), 0.75, 255)


def test_cat_max_ratio_redraws_only_the_crop_box(drawn_boxes):
    mask = _block_mask()
    valid = [crop_is_diverse(mask, (x, y, x + 16, y + 16), 0.75, 255)
             for y in range(SIDE - 15) for x in range(SIDE - 15)]
    assert 0 < np.mean(valid) < 0.5  # such crops exist, but a single random box mostly misses them
    diverse = {}
    for ratio in (1.0, 0.75):
        diverse[ratio] = []
        for seed in range(40):
            drawn_boxes.clear()
            out = SegWeakAug(crop_size=CROP, scale_range=(0.8, 1.25), flip_prob=0.0, cat_max_ratio=ratio,
                             seed=seed)(_coords_results(mask))
            shape, (x1, y1, x2, y2) = drawn_boxes[-1]
            assert {s for s, _ in drawn_boxes} == {shape}  # the rescale is drawn once, before the crop loop
            scaled = cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST)
            np.testing.assert_array_equal(out["gt_seg_map"], scaled[y1:y2, x1:x2])  # kept: the last box drawn
            checks = [crop_is_diverse(scaled, box, 0.75, 255) for _, box in drawn_boxes]
            if ratio == 1.0:
                assert len(drawn_boxes) == 1
            else:
                assert not any(checks[:-1])  # redrawn only after a failed check, stops at the first success
                assert checks[-1] or len(drawn_boxes) == 1 + CAT_MAX_RATIO_TRIES
            diverse[ratio].append(_share(out["gt_seg_map"]) < 0.75)
    assert np.mean(diverse[1.0]) < 0.5 and np.mean(diverse[0.75]) >= 0.9  # the redraws find the diverse crops


def test_cat_max_ratio_gives_up_after_the_official_tries(drawn_boxes):
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[:, :2] = 1  # no 16x16 crop holds more than 32 px of class 1: every check fails
    out = SegWeakAug(crop_size=CROP, scale_range=(1.0, 1.0), flip_prob=0.0, cat_max_ratio=0.75,
                     seed=3)(_coords_results(mask))
    assert CAT_MAX_RATIO_TRIES == 10 and len(drawn_boxes) == 11  # mmseg: one box, then `for _ in range(10)` redraws
    x1, y1, x2, y2 = drawn_boxes[-1][1]
    assert (out["img"][0, 0, 1], out["img"][0, 0, 0]) == (x1, y1)  # the 11th box is kept unchecked
    np.testing.assert_array_equal(out["gt_seg_map"], mask[y1:y2, x1:x2])
    drawn_boxes.clear()
    SegWeakAug(crop_size=CROP, scale_range=(1.0, 1.0), cat_max_ratio=0.75, seed=3)(
        dict(img=_coords_results(mask)["img"]))  # unlabeled: no mask, no redraw
    assert len(drawn_boxes) == 1


def test_cat_max_ratio_draws_are_reproducible():
    mask = _block_mask()
    runs = []
    for seed in (5, 5, 6):
        aug = SegWeakAug(crop_size=CROP, scale_range=(0.8, 1.25), cat_max_ratio=0.75, seed=seed)
        outs = [aug(_coords_results(mask)) for _ in range(10)]
        runs.append(np.stack([np.concatenate([o["img"][..., 0], o["gt_seg_map"]]) for o in outs]))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    with pytest.raises(ValueError, match="cat_max_ratio"):
        CatMaxRatioCrop(4, 4, cat_max_ratio=0.0)


def test_keep_ratio_resize_is_mmcv_imrescale():
    assert rescale_size((1914, 1052), (1280, 720)) == (1280, 704)  # GTA5: long side bounds
    assert rescale_size((1914, 1052), (720, 1280)) == (1280, 704)  # bounds in any order
    assert rescale_size((2048, 1024), (1024, 512)) == (1024, 512)  # Cityscapes
    assert rescale_size((1280, 1024), (1280, 720)) == (900, 720)  # 5:4 frame: short side bounds
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 20, (1052, 1914), dtype=np.uint8)
    img = np.full((1052, 1914, 3), 77, np.uint8)
    out = SegKeepRatioResize((1280, 720))(dict(img=img, gt_seg_map=mask))
    assert out["img"].shape == (704, 1280, 3) and out["img_shape"] == (704, 1280) and np.all(out["img"] == 77)
    rows = np.floor(np.arange(704) * 1052 / 704).astype(int)  # nearest neighbour: source pixel floor(i / factor)
    cols = np.floor(np.arange(1280) * 1914 / 1280).astype(int)
    np.testing.assert_array_equal(out["gt_seg_map"], mask[rows][:, cols])
    assert SegKeepRatioResize((1280, 720))(dict(img=img))["img"].shape == (704, 1280, 3)


def test_gta5_source_pipeline_of_the_base_config(tmp_path):
    cfg = load_config(str(REPO_ROOT / "configs" / "_base_" / "datasets" / "gta5-to-cityscapes.py"))
    steps = {t["type"]: t for t in cfg.source_pipeline}
    assert tuple(steps["SegKeepRatioResize"]["scale"]) == (1280, 720) and "SegAlbu" not in steps
    assert steps["SegWeakAug"]["cat_max_ratio"] == 0.75 and steps["LoadSegMask"]["size_mismatch"] == "resize"
    assert all(t.get("cat_max_ratio", 1.0) == 1.0 for t in cfg.target_pipeline)  # mmseg: Cityscapes plain crop
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    label = np.full((526, 957), 7, np.uint8)  # a GTA5 label map at half the image size (road = train id 0)
    label[:, 400:] = 26  # car = train id 13
    Image.fromarray(np.zeros((1052, 1914, 3), np.uint8)).save(tmp_path / "images" / "00001.png")
    Image.fromarray(label).save(tmp_path / "labels" / "00001.png")
    ds = GTA5Dataset(str(tmp_path), pipeline=cfg.source_pipeline[:3])  # load, load mask, keep-ratio resize
    with pytest.warns(UserWarning, match="nearest-neighbour"):
        item = ds[0]
    assert item["img"].shape == (704, 1280, 3) and item["gt_seg_map"].shape == (704, 1280)
    full = cv2.resize(label, (1914, 1052), interpolation=cv2.INTER_NEAREST)
    expected = np.where(cv2.resize(full, (1280, 704), interpolation=cv2.INTER_NEAREST) == 7, 0, 13)
    np.testing.assert_array_equal(item["gt_seg_map"], expected)
