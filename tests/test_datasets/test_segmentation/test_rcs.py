"""Rare class sampling (DAFormer RCS): statistics files, class probabilities, draws, crop re-reads, wiring, errors."""

import json
import pickle

import numpy as np
import pytest
from mmengine.registry import DefaultScope

from gen3d.datasets.segmentation import FutureBatchDataset, SemiSupervisedDataset
from gen3d.datasets.segmentation.rcs import (
    RCS_CROP_TRIES,
    RareClassSampler,
    mask_class_stats,
    rcs_class_probs,
    write_class_stats,
)
from tests.helpers.seg_data import image, write_grey, write_lines, write_rgb

H, W = 24, 32
N_LABELED, RARE_FILE, RARE_CLASS = 20, 7, 2


def _write_stats(root, masks: dict[str, np.ndarray]) -> list[dict]:
    stats = []
    for name, mask in masks.items():
        path = root / f"{name}.png"
        write_grey(path, mask)
        stats.append(mask_class_stats(str(path)))
    write_class_stats(str(root), stats)
    return stats


def _folder_tree(root, n_labeled: int = N_LABELED, n_unlabeled: int = 4):
    """Labeled masks: class 0, class 1 in the right half of every odd image, class 2 in columns 0-7 of RARE_FILE."""
    for k in range(n_labeled + n_unlabeled):
        write_rgb(root / "images" / f"s{k:02d}.png", image(k))
        if k < n_labeled:
            mask = np.zeros((H, W), np.uint8)
            if k % 2:
                mask[:, W // 2:] = 1
            if k == RARE_FILE:
                mask[:, :8] = RARE_CLASS
            write_grey(root / "masks" / f"s{k:02d}.png", mask)
    write_lines(root / "splits" / "labeled.txt", [f"s{k:02d}" for k in range(n_labeled)])
    write_lines(root / "splits" / "unlabeled.txt", [f"s{k:02d}" for k in range(n_labeled, n_labeled + n_unlabeled)])
    write_lines(root / "classes.txt", ["zero", "one", "two"])
    masks = sorted((root / "masks").iterdir())
    write_class_stats(str(root), [mask_class_stats(str(p)) for p in masks])
    return root


def _labeled_pipeline(crop=(H, 16)) -> list[dict]:
    return [dict(type="LoadSegImage"), dict(type="LoadSegMask"),
            dict(type="SegWeakAug", crop_size=crop, scale_range=(1.0, 1.0), flip_prob=0.0, seed=0),
            dict(type="PackSegInputs")]


def _two_stream(root, cls=SemiSupervisedDataset, **kwargs):
    streams = dict(labeled=dict(type="FolderSegDataset", data_root=str(root), split="labeled",
                                pipeline=_labeled_pipeline()),
                   unlabeled=dict(type="FolderSegDataset", data_root=str(root), split="unlabeled",
                                  pipeline=[dict(type="LoadSegImage"), dict(type="PackSegInputs")]))
    with DefaultScope.overwrite_default_scope("gen3d"):
        return cls(**streams, **kwargs)


RCS = dict(class_temp=0.01, min_pixels=100, min_crop_ratio=0.1)


@pytest.fixture(scope="module")
def rcs_root(tmp_path_factory):
    return _folder_tree(tmp_path_factory.mktemp("rcs"))


def test_mask_class_stats_are_hand_counts(tmp_path):
    mask = np.array([[0, 0, 1, 255], [3, 3, 3, 255], [0, 1, 1, 1]], np.uint8)
    write_grey(tmp_path / "m.png", mask)
    path = str(tmp_path / "m.png")
    assert mask_class_stats(path) == {"0": 3, "1": 4, "3": 3, "file": path}
    assert list(mask_class_stats(path)) == ["0", "1", "3", "file"]  # ascending classes, then the file
    lut = [255] * 256
    lut[0], lut[3] = 5, 0  # raw 3 -> 0, raw 0 -> 5, raw 1 -> ignored
    assert mask_class_stats(path, label_map=lut) == {"0": 3, "5": 3, "file": path}
    assert mask_class_stats(path, reduce_zero_label=True) == {"0": 4, "2": 3, "file": path}
    with pytest.raises(ValueError, match=r"m\.png has values \[3\]"):
        mask_class_stats(path, num_classes=3)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"bad\.png"):
        mask_class_stats(str(tmp_path / "bad.png"))
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        mask_class_stats(str(tmp_path / "nope.png"))


def test_written_files_have_dafomer_layout(tmp_path):
    a = np.zeros((4, 5), np.uint8)
    a[0, :2] = 2
    b = np.full((4, 5), 255, np.uint8)
    b[1:, :] = 2
    stats = _write_stats(tmp_path, {"a": a, "b": b})
    fa, fb = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    assert stats == [{"0": 18, "2": 2, "file": fa}, {"2": 15, "file": fb}]  # input entries keep their "file"
    assert json.loads((tmp_path / "sample_class_stats.json").read_text()) == stats
    assert json.loads((tmp_path / "sample_class_stats_dict.json").read_text()) == {fa: {"0": 18, "2": 2},
                                                                                    fb: {"2": 15}}
    with_class = json.loads((tmp_path / "samples_with_class.json").read_text())
    assert with_class == {"0": [[fa, 18]], "2": [[fa, 2], [fb, 15]]}
    assert (tmp_path / "sample_class_stats.json").read_text().startswith('[\n  {\n    "0": 18')  # indent=2


def test_class_probabilities_are_the_softmax_formula():
    stats = [{"0": 600, "1": 90, "file": "a"}, {"0": 300, "2": 10, "file": "b"}]
    for temp in (0.01, 0.1, 1.0):
        classes, probs = rcs_class_probs(stats, temp)
        assert classes == [2, 1, 0]  # sorted by total pixels, ascending
        freq = np.array([10, 90, 900]) / 1000
        expected = np.exp((1 - freq) / temp) / np.exp((1 - freq) / temp).sum()
        np.testing.assert_allclose(probs, expected, rtol=1e-12)
    assert rcs_class_probs(stats, 0.01)[1][0] > 0.99  # T = 0.01 all but always picks the rarest class


def test_min_pixels_filter_is_strict(tmp_path):
    masks = {"exact": np.zeros((10, 10), np.uint8), "more": np.zeros((10, 10), np.uint8)}
    masks["exact"][:3, :10] = 1  # 30 pixels of class 1
    masks["more"][:3, :10], masks["more"][3, 0] = 1, 1  # 31
    _write_stats(tmp_path, masks)
    paths = [str(tmp_path / "exact.png"), str(tmp_path / "more.png")]
    sampler = RareClassSampler(paths, str(tmp_path), min_pixels=30)
    assert sampler.samples_with_class[1].tolist() == [1]  # 30 is not > 30
    assert sampler.samples_with_class[0].tolist() == [0, 1]
    assert RareClassSampler(paths, str(tmp_path), min_pixels=29).samples_with_class[1].tolist() == [0, 1]
    with pytest.raises(ValueError, match="more than min_pixels=31 pixels of class 1"):
        RareClassSampler(paths, str(tmp_path), min_pixels=31)
    # Stats of DAFormer's converted masks (<stem>_labelTrainIds.png) match the raw masks gen3d reads (by name).
    daformer = tmp_path / "daformer"
    _write_stats(daformer, {f"{k}_labelTrainIds": v for k, v in masks.items()})
    raw = [str(tmp_path / "raw" / "more.png"), str(tmp_path / "raw" / "exact.png")]
    assert RareClassSampler(raw, str(daformer), min_pixels=30).samples_with_class[1].tolist() == [0]


def test_rare_class_drawn_far_more_often_than_uniform(rcs_root):
    paths = [str(rcs_root / "masks" / f"s{k:02d}.png") for k in range(N_LABELED)]
    sampler = RareClassSampler(paths, str(rcs_root), class_temp=0.1, min_pixels=100)
    rng = np.random.default_rng(0)
    draws = [sampler.draw(rng) for _ in range(4000)]
    classes = np.array([c for c, _ in draws])
    files = np.array([i for _, i in draws])
    for c, p in sampler.class_probs.items():  # class frequencies follow P (4 sigma)
        assert abs(np.mean(classes == c) - p) < 4 * np.sqrt(p * (1 - p) / len(draws)) + 1e-9
    assert sampler.class_probs[RARE_CLASS] > 0.5
    assert np.all(files[classes == RARE_CLASS] == RARE_FILE)
    assert np.all(files[classes == 1] % 2 == 1)  # only files with class 1
    assert np.mean(files == RARE_FILE) > 10 * (1 / N_LABELED)  # uniform: 1 / 20
    ds, plain = _two_stream(rcs_root, rare_class_sampling=RCS), _two_stream(rcs_root)
    through_dataset = [ds.stream_indices(i)[0] for i in range(len(ds))]
    assert np.mean(np.array(through_dataset) == RARE_FILE) > 0.8  # T = 0.01
    assert sorted(plain.stream_indices(i)[0] for i in range(len(plain))) == list(range(N_LABELED))


def test_draws_are_a_function_of_seed_and_index(rcs_root):
    spread = {**RCS, "class_temp": 1.0}  # every class and many files likely: the draws really vary
    ds, again = _two_stream(rcs_root, rare_class_sampling=spread), _two_stream(rcs_root, rare_class_sampling=spread)
    n = len(ds)
    forward = [(ds.stream_indices(i), ds.rcs_class(i)) for i in range(n)]
    backward = [(again.stream_indices(i), again.rcs_class(i)) for i in reversed(range(n))][::-1]
    assert forward == backward  # no hidden state: call order and instance do not matter
    copied = pickle.loads(pickle.dumps(ds))  # as a dataloader worker receives it
    assert forward == [(copied.stream_indices(i), copied.rcs_class(i)) for i in range(n)]
    assert len({s[0] for s, _ in forward}) > 5 and len({c for _, c in forward}) == 3
    other = _two_stream(rcs_root, rare_class_sampling=spread, seed=1)
    assert [other.stream_indices(i)[0] for i in range(n)] != [s[0] for s, _ in forward]
    plain = _two_stream(rcs_root)
    assert [s[1] for s, _ in forward] == [plain.stream_indices(i)[1] for i in range(n)]  # target mapping kept
    item = ds[3]
    assert item["labeled"]["data_samples"].img_path.endswith(f"s{forward[3][0][0]:02d}.png")


class _Reads:
    """A fake dataset: read ``k`` of any index has ``pixels[k]`` pixels of class 2."""

    def __init__(self, pixels: list[int]) -> None:
        self.pixels, self.reads = pixels, 0

    def __getitem__(self, index: int) -> dict:
        mask = np.zeros(100, np.uint8)
        mask[: self.pixels[min(self.reads, len(self.pixels) - 1)]] = 2
        self.reads += 1
        return {"gt_seg_map": mask, "read": self.reads}


def test_crop_is_reread_until_it_holds_the_class(rcs_root):
    paths = [str(rcs_root / "masks" / f"s{k:02d}.png") for k in range(N_LABELED)]
    sampler = RareClassSampler(paths, str(rcs_root), min_pixels=100, min_crop_ratio=0.5)  # needs > 50 pixels
    fake = _Reads([0, 50, 51, 90])
    assert sampler.read(fake, RARE_FILE, RARE_CLASS)["read"] == 3 and fake.reads == 3  # 50 is not > 50
    fake = _Reads([0])
    assert sampler.read(fake, RARE_FILE, RARE_CLASS)["read"] == 1 + RCS_CROP_TRIES  # gives up, keeps the last read
    fake = _Reads([0])
    sampler.min_crop_ratio = 0.0
    assert sampler.read(fake, RARE_FILE, RARE_CLASS)["read"] == 1  # check disabled

    # Real pipeline: 24 x 16 crops of a 24 x 32 mask whose class 2 fills columns 0-7; about half the crops miss it.
    ds = _two_stream(rcs_root, rare_class_sampling=RCS)  # needs > 10 pixels
    labeled = ds.labeled

    def hits(item: dict) -> int:
        return int((item["data_samples"].gt_sem_seg.data == RARE_CLASS).sum())

    plain = [hits(labeled[RARE_FILE]) for _ in range(40)]
    assert 5 < sum(h > 10 for h in plain) < 35  # the crop alone often misses the class
    assert all(hits(ds.rcs.read(labeled, RARE_FILE, RARE_CLASS)) > 10 for _ in range(40))
    rare_items = [i for i in range(len(ds)) if ds.rcs_class(i) == RARE_CLASS]
    assert len(rare_items) > 10 and all(hits(ds[i]["labeled"]) > 10 for i in rare_items)


def test_future_source_draws_use_rcs(rcs_root):
    fut = _two_stream(rcs_root, cls=FutureBatchDataset, k=3, rare_class_sampling=RCS)
    plain = _two_stream(rcs_root, cls=FutureBatchDataset, k=3)
    n_u = len(plain.dataset.unlabeled)
    for i in (0, 5):  # default behaviour unchanged: uniform pairs from rng((seed, idx))
        expected = np.random.default_rng((0, i)).integers(0, (N_LABELED, n_u), size=(3, 2)).tolist()
        assert [list(d) for d in plain.future_indices(i)] == expected
    draws = [d for i in range(len(fut)) for d in fut.future_indices(i)]
    again = _two_stream(rcs_root, cls=FutureBatchDataset, k=3, rare_class_sampling=RCS)
    assert draws == [d for i in reversed(range(len(fut))) for d in again.future_indices(i)[::-1]][::-1]
    assert np.mean([i_l == RARE_FILE for i_l, _ in draws]) > 0.8
    assert np.mean([i_l == RARE_FILE for i in range(len(plain)) for i_l, _ in plain.future_indices(i)]) < 0.3
    assert len({i_u for _, i_u in draws}) == n_u  # target stays uniform over its stream
    item = fut[2]
    for (i_l, _), sample in zip(fut.future_indices(2), item["future"]):
        assert sample["labeled"]["data_samples"].img_path.endswith(f"s{i_l:02d}.png")
        if i_l == RARE_FILE:
            assert int((sample["labeled"]["data_samples"].gt_sem_seg.data == RARE_CLASS).sum()) > 10


def test_missing_stats_name_the_file_and_the_tool(tmp_path, rcs_root):
    with pytest.raises(FileNotFoundError, match=r"empty[/\\]sample_class_stats\.json.*seg_class_stats\.py"):
        _two_stream(rcs_root, rare_class_sampling={**RCS, "stats_dir": str(tmp_path / "empty")})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "sample_class_stats.json").write_text((rcs_root / "sample_class_stats.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"samples_with_class\.json"):
        _two_stream(rcs_root, rare_class_sampling={**RCS, "stats_dir": str(tmp_path / "half")})
    with pytest.raises(TypeError):
        _two_stream(rcs_root, rare_class_sampling={**RCS, "temperature": 0.01})
