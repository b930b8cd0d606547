"""SyntheticDefectValDataset: held-out good images plus seeded synthetic-defect copies; in-memory loading."""

import shutil

import numpy as np
import pytest

from gen3d.datasets import MVTecDataset
from gen3d.datasets.anomaly import SyntheticDefectValDataset
from gen3d.datasets.anomaly_synthesis import synthesize_defect
from gen3d.datasets.transforms import LoadAnomalyImage, LoadAnomalyMask, imread_rgb
from gen3d.registry import DATASETS
from tests.helpers.anomaly_data import CLASSES, make_mvtec_tree

PIPELINE = [dict(type="LoadAnomalyImage"), dict(type="LoadAnomalyMask"), dict(type="PackAnomalyInputs")]
RESIZED = [dict(type="LoadAnomalyImage"), dict(type="LoadAnomalyMask"),
           dict(type="Albu", transforms=[dict(type="Resize", height=24, width=24)]), dict(type="PackAnomalyInputs")]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_mvtec_tree(tmp_path_factory.mktemp("mvtec"))


def _val(root, pipeline=PIPELINE, **kwargs) -> SyntheticDefectValDataset:
    inner = dict(type="MVTecDataset", data_root=str(root), split="val", val_ratio=0.34)
    return SyntheticDefectValDataset(dataset=inner, pipeline=pipeline, **kwargs)


def _items(ds, order=None) -> dict[int, tuple[np.ndarray, np.ndarray, int, str]]:
    out = {}
    for i in order if order is not None else range(len(ds)):
        item = ds[i]
        s = item["data_samples"]
        out[i] = (item["inputs"].numpy(), s.gt_mask.numpy(), int(s.gt_label), s.defect_type)
    return out


def test_each_good_image_then_its_defective_copy(root):
    ds = _val(root)
    plain = MVTecDataset(str(root), split="val", val_ratio=0.34, pipeline=PIPELINE)
    assert len(ds) == 2 * len(plain) == 2 * 2 * len(CLASSES)  # round(6 * 0.34) = 2 held-out images per class
    items = _items(ds)
    for j in range(len(plain)):
        good, bad = items[2 * j], items[2 * j + 1]
        ref = plain[j]
        np.testing.assert_array_equal(good[0], ref["inputs"].numpy())  # the good image as the plain split has it
        assert good[2] == 0 and good[3] == "good" and good[1].sum() == 0
        assert bad[2] == 1 and bad[3].startswith("synthetic_") and bad[1].sum() >= 12
        changed = (bad[0] != good[0]).any(axis=0)
        assert changed.any() and not (changed & (bad[1] == 0)).any(), "pixels outside the mask are the good image's"
        info = ds.get_data_info(2 * j + 1)
        assert info["img_path"] == ref["data_samples"].img_path and info["cls_name"] == ref["data_samples"].cls_name
    assert ds.metainfo["classes"] == tuple(CLASSES)
    assert ds.metainfo["synthetic_defects"]["seed"] == 0


def test_grey_products_get_grey_defects(root):
    ds = _val(root, defect_kinds=["stain", "scratch"])  # kinds that could add colour
    carpet = [i for i in range(1, len(ds), 2) if ds.get_data_info(i)["cls_name"] == "carpet"]
    assert carpet
    for i in carpet:  # carpet is a grayscale class: its copies must stay grey (no colour stain)
        img = ds[i]["inputs"].numpy()
        assert (img[0] == img[1]).all() and (img[0] == img[2]).all()


def test_copies_are_deterministic_across_epochs_ranks_and_locations(root, tmp_path):
    first = _items(_val(root))
    again = _items(_val(root), order=reversed(range(len(first))))  # another instance, another access order
    rank1 = _items(_val(root), order=range(1, len(first), 2))  # a rank that only sees the odd items
    shutil.copytree(root, tmp_path / "moved")
    moved = _items(_val(tmp_path / "moved"))  # the same tree elsewhere on disk (relative paths key the draws)
    for other in (again, rank1, moved):
        for i, (img, mask, label, kind) in other.items():
            np.testing.assert_array_equal(img, first[i][0])
            np.testing.assert_array_equal(mask, first[i][1])
            assert (label, kind) == first[i][2:]
    ds = _val(root)
    np.testing.assert_array_equal(ds[1]["inputs"].numpy(), ds[1]["inputs"].numpy())  # a second epoch


def test_seed_and_copies(root):
    base, other = _items(_val(root)), _items(_val(root, seed=1))
    assert any((base[i][1] != other[i][1]).any() for i in range(1, len(base), 2)), "the seed changes the defects"
    two = _val(root, copies=2)
    assert len(two) == 3 * len(two.dataset)
    a, b = two[1]["data_samples"].gt_mask.numpy(), two[2]["data_samples"].gt_mask.numpy()
    assert int(two[2]["data_samples"].gt_label) == 1 and (a != b).any()
    only = _items(_val(root, defect_kinds=["scratch"]))
    assert {only[i][3] for i in range(1, len(only), 2)} == {"synthetic_scratch"}


def test_draws_come_from_their_own_salted_stream(root):
    # Documented key: seeded_rng(seed, 'synthetic_val', class, path relative to data_root, copy index). The demo set
    # draws from seeded_rng(seed, class) and the deploy gates from default_rng(seed): neither may give our copy.
    from gen3d.datasets.anomaly._utils import seeded_rng
    from gen3d.datasets.anomaly.synthetic_val import SYNTHETIC_SALT, synthesize_copy

    ds = _val(root, pipeline=[dict(type="LoadAnomalyImage"), dict(type="LoadAnomalyMask")])
    kinds = ds.defect_kinds
    for i in (1, 3):
        info, ours = ds.get_data_info(i), ds[i]
        img = imread_rgb(info["img_path"])
        rel = f"{info['cls_name']}/train/good/{info['img_path'].rsplit('/', 1)[1]}"
        expected, mask, _ = synthesize_copy(img, seeded_rng(0, SYNTHETIC_SALT, info["cls_name"], rel, 0), kinds)
        np.testing.assert_array_equal(ours["img"], expected)
        np.testing.assert_array_equal(ours["gt_mask"], mask)
        demo, _, _ = synthesize_copy(img, seeded_rng(0, info["cls_name"], rel, 0), kinds)
        gate, _, _ = synthesize_defect(img, np.random.default_rng(0))
        assert not np.array_equal(ours["img"], demo) and not np.array_equal(ours["img"], gate)


def test_mask_is_resized_with_the_image(root):
    ds = _val(root, pipeline=RESIZED)
    item = ds[1]
    mask = item["data_samples"].gt_mask.numpy()
    assert item["inputs"].shape[1:] == mask.shape == (24, 24) and set(np.unique(mask)) <= {0, 1} and mask.any()


def test_refuses_anything_but_a_normal_val_split(root):
    for split in ("test", "train"):
        with pytest.raises(ValueError, match="'val' split"):
            SyntheticDefectValDataset(dict(type="MVTecDataset", data_root=str(root), split=split))

    class Defective:
        split, data_root, metainfo = "val", str(root), {}

        def __len__(self):
            return 1

        def get_data_info(self, idx):
            return dict(img_path="x.png", gt_label=1, cls_name="bottle")

    with pytest.raises(ValueError, match="good images only"):
        SyntheticDefectValDataset(Defective())
    with pytest.raises(ValueError, match="copies"):
        _val(root, copies=0)
    with pytest.raises(ValueError, match="defect_kinds"):
        _val(root, defect_kinds=["crack"])


def test_registered_and_lazy(root):
    ds = DATASETS.build(dict(type="SyntheticDefectValDataset", lazy_init=True, pipeline=PIPELINE,
                             dataset=dict(type="MVTecDataset", data_root=str(root), split="val", val_ratio=0.34)))
    assert not ds._fully_initialized and len(ds) == 8 and ds._fully_initialized
    with pytest.raises(IndexError):
        ds.get_data_info(8)


def test_loaders_keep_an_in_memory_image_and_mask():
    img = np.full((6, 8, 3), 7, np.uint8)
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:4] = 255
    out = LoadAnomalyMask()(LoadAnomalyImage()({"img_path": "/nonexistent.png", "img": img, "gt_mask": mask}))
    assert out["img"] is img and out["img_shape"] == (6, 8)
    assert out["gt_mask"].dtype == np.uint8 and set(np.unique(out["gt_mask"])) == {0, 1}
    assert out["gt_mask"].sum() == 4
    with pytest.raises(ValueError, match="uint8"):
        LoadAnomalyImage()({"img_path": "a.png", "img": img.astype(np.float32)})
    with pytest.raises(ValueError, match="in-memory gt_mask"):
        LoadAnomalyMask()({"img_path": "a.png", "img": img, "img_shape": (6, 8), "gt_mask": mask[:5]})
    with pytest.raises(FileNotFoundError):  # without an in-memory image the file is read as before
        LoadAnomalyImage()({"img_path": "/nonexistent.png"})
