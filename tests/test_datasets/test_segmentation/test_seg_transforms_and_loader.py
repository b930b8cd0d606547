"""Weak/strong views, packing, the two-stream dataset through an mmengine DataLoader, and the demo builder."""

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from gen3d.datasets.seg_synthesis import DEMO_CLASSES, build_seg_demo_dataset
from gen3d.datasets.segmentation import FolderSegDataset, SemiSupervisedDataset
from gen3d.datasets.transforms import PackSegInputs, SegAlbu, SegStrongAug, SegWeakAug
from gen3d.structures import SegDataSample

CROP = (16, 20)
LABELED = [dict(type="LoadSegImage"), dict(type="LoadSegMask"), dict(type="SegWeakAug", crop_size=CROP, seed=0),
           dict(type="PackSegInputs")]
UNLABELED = [dict(type="LoadSegImage"), dict(type="SegWeakAug", crop_size=CROP, seed=1),
             dict(type="SegStrongAug", seed=2), dict(type="PackSegInputs")]


def _results(h=24, w=32):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return dict(img=img, gt_seg_map=np.tile(np.arange(w, dtype=np.uint8), (h, 1)), img_shape=(h, w), ori_shape=(h, w))


def test_weak_aug_pads_mask_with_ignore_and_tracks_flip():
    out = SegWeakAug(crop_size=(64, 64), scale_range=(1.0, 1.0), flip_prob=1.0, seed=0)(_results())
    assert out["img"].shape == (64, 64, 3) and out["gt_seg_map"].shape == (64, 64)
    assert out["flip"] is True and out["flip_direction"] == "horizontal"
    assert np.all(out["gt_seg_map"][24:] == 255) and np.all(out["img"][24:] == 0)
    # top-left placement, then flipped: the original columns run right to left.
    np.testing.assert_array_equal(out["gt_seg_map"][0, -32:], np.arange(32)[::-1])
    same = SegWeakAug(crop_size=(8, 8), scale_range=(1.0, 1.0), flip_prob=0.0, seed=0)(_results())
    assert same["flip"] is False
    img, mask = same["img"], same["gt_seg_map"]  # a crop: the mask columns are consecutive ids
    assert np.all(np.diff(mask[0].astype(int)) == 1) and img.shape == (8, 8, 3)


def _content_side(aug: SegWeakAug, side: int = 40) -> int:
    """Side of the rescaled image inside the padded crop (mask 1 on the image, padding 0)."""
    out = aug({"img": np.full((side, side, 3), 200, np.uint8), "gt_seg_map": np.ones((side, side), np.uint8)})
    return int(round(float(np.sqrt((out["gt_seg_map"] == 1).sum()))))


@pytest.mark.parametrize("sampling,low,high", [("uniform", 0.25, 0.42), ("split", 0.42, 0.58)])
def test_weak_aug_scale_sampling(sampling, low, high):
    # U2PL's RandResize: half of the draws below 1 ('split'); uniform on [0.5, 2.0] puts a third there
    aug = SegWeakAug(crop_size=(96, 96), scale_range=(0.5, 2.0), flip_prob=0.0, seg_pad_val=0, seed=0,
                     scale_sampling=sampling)
    sides = [_content_side(aug) for _ in range(400)]
    assert min(sides) >= 19 and max(sides) <= 96
    assert low < float(np.mean([s < 40 for s in sides])) < high


def test_weak_aug_u2pl_padding_centre_mean_colour_label_zero():
    from gen3d.datasets.transforms.seg_augment import U2PL_PAD_VAL

    aug = SegWeakAug(crop_size=(64, 64), scale_range=(1.0, 1.0), flip_prob=0.0, pad_val=U2PL_PAD_VAL, seg_pad_val=0,
                     pad_position="center", scale_sampling="split", seed=0)
    out = aug({"img": np.full((40, 40, 3), 200, np.uint8), "gt_seg_map": np.full((40, 40), 3, np.uint8)})
    mask, img = out["gt_seg_map"], out["img"]
    assert (mask[12:52, 12:52] == 3).all() and (mask == 3).sum() == 40 * 40  # centred, both sides padded
    assert (mask[mask != 3] == 0).all()  # padding labeled 0 (background), as U2PL's Crop
    assert tuple(img[0, 0]) == (124, 116, 104) and tuple(img[30, 30]) == (200, 200, 200)
    default = SegWeakAug(crop_size=(64, 64), scale_range=(1.0, 1.0), flip_prob=0.0, seed=0)
    out = default({"img": np.full((40, 40, 3), 200, np.uint8), "gt_seg_map": np.full((40, 40), 3, np.uint8)})
    assert (out["gt_seg_map"][:40, :40] == 3).all() and (out["gt_seg_map"][40:] == 255).all()  # top-left, ignore
    for bad in (dict(pad_position="bottom"), dict(scale_sampling="log"), dict(scale_sampling="split",
                                                                              scale_range=(1.2, 2.0))):
        with pytest.raises(ValueError):
            SegWeakAug(**bad)


def test_strong_view_shares_geometry_with_weak_view():
    res = SegWeakAug(crop_size=(20, 20), seed=3)(_results())
    off = SegStrongAug(color_jitter=None, gray_prob=0.0, blur_prob=0.0, seed=0)(dict(res))
    np.testing.assert_array_equal(off["img_strong"], res["img"])
    gray = SegStrongAug(color_jitter=None, gray_prob=1.0, blur_prob=0.0, seed=0)(dict(res))
    strong = gray["img_strong"].astype(int)
    assert np.all(strong[..., 0] == strong[..., 1])
    expected = res["img"].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(strong[..., 0] - expected).max() <= 2  # grey version of the same pixels: same geometry
    jitter = SegStrongAug(jitter_prob=1.0, seed=0)(dict(res))
    assert jitter["img_strong"].shape == res["img"].shape and np.any(jitter["img_strong"] != res["img"])
    assert gray["img"] is res["img"]


def test_seg_albu_and_pack():
    res = SegAlbu([dict(type="Resize", height=12, width=16)])(_results())
    assert res["img"].shape == (12, 16, 3) and res["gt_seg_map"].shape == (12, 16)
    res = SegStrongAug(seed=0)(res)
    res.update(img_path="x.png", labeled=True, flip=False)
    packed = PackSegInputs()(res)
    assert packed["inputs"].dtype == torch.uint8 and packed["inputs"].shape == (3, 12, 16)
    assert packed["inputs_strong"].shape == (3, 12, 16)
    sample = packed["data_samples"]
    assert isinstance(sample, SegDataSample) and sample.gt_sem_seg.dtype == torch.long
    assert sample.gt_sem_seg.shape == (12, 16) and sample.img_shape == (12, 16) and sample.ori_shape == (24, 32)
    with pytest.raises(ValueError, match="uint8"):
        PackSegInputs()(dict(img=np.zeros((4, 4), np.uint8)))


def test_two_stream_index_mapping(folder_seg_root):
    ds = SemiSupervisedDataset(
        labeled=dict(type="FolderSegDataset", data_root=folder_seg_root, split="labeled"),
        unlabeled=dict(type="FolderSegDataset", data_root=folder_seg_root, split="unlabeled"),
    )
    assert len(ds) == 5  # max(3 labeled, 5 unlabeled)
    pairs = [ds.stream_indices(i) for i in range(len(ds))]
    assert [u for _, u in pairs] == list(range(5))
    counts = np.bincount([lab for lab, _ in pairs], minlength=3)
    assert counts.min() >= 1 and counts.max() <= 2  # shorter stream cycled evenly
    assert ds.metainfo["classes"][0] == "background"
    with pytest.raises(IndexError):
        ds.stream_indices(5)


@pytest.mark.parametrize("sampler", ["DefaultSampler", "InfiniteSampler"])
def test_two_stream_batches_through_mmengine_dataloader(folder_seg_root, sampler):
    cfg = dict(
        batch_size=2, num_workers=0, sampler=dict(type=sampler, shuffle=True, seed=0),
        dataset=dict(type="SemiSupervisedDataset",
                     labeled=dict(type="FolderSegDataset", data_root=folder_seg_root, split="labeled",
                                  pipeline=LABELED),
                     unlabeled=dict(type="FolderSegDataset", data_root=folder_seg_root, split="unlabeled",
                                    pipeline=UNLABELED)))
    with DefaultScope.overwrite_default_scope("gen3d"):
        loader = Runner.build_dataloader(cfg, seed=0)
    batch = next(iter(loader))
    lab, unl = batch["labeled"], batch["unlabeled"]
    assert len(lab["inputs"]) == len(unl["inputs"]) == 2
    assert all(x.shape == (3, *CROP) and x.dtype == torch.uint8 for x in lab["inputs"] + unl["inputs"])
    assert all(x.shape == (3, *CROP) for x in unl["inputs_strong"])
    assert all(s.gt_sem_seg.shape == CROP for s in lab["data_samples"])
    assert all("gt_sem_seg" not in s and s.labeled is False for s in unl["data_samples"])
    assert "inputs_strong" not in lab


def test_demo_dataset_is_deterministic_and_loads(tmp_path):
    a = build_seg_demo_dataset(tmp_path / "a", n_labeled=2, n_unlabeled=3, n_val=2, size=48, seed=5)
    b = build_seg_demo_dataset(tmp_path / "b", n_labeled=2, n_unlabeled=3, n_val=2, size=48, seed=5)
    for rel in ("images/l0000.jpg", "masks/v0001.png", "splits/unlabeled.txt", "classes.txt"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert not (a / "masks" / "u0000.png").exists()
    lab = FolderSegDataset(str(a), split="labeled", pipeline=LABELED[:2])
    assert lab.metainfo["classes"] == DEMO_CLASSES
    masks = [lab[i]["gt_seg_map"] for i in range(len(lab))]
    assert all(m.shape == (48, 48) for m in masks)
    assert all(set(np.unique(m)) <= set(range(len(DEMO_CLASSES))) and m.max() > 0 for m in masks)
    assert len(FolderSegDataset(str(a), split="unlabeled")) == 3
    c = build_seg_demo_dataset(tmp_path / "c", n_labeled=2, n_unlabeled=0, n_val=0, size=48, seed=6)
    assert (c / "images/l0000.jpg").read_bytes() != (a / "images/l0000.jpg").read_bytes()
