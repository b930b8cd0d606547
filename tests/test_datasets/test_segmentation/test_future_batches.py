"""FutureBatchDataset (FST-W's K extra two-stream samples): draws, collate structure, an FST-W step on real batches."""

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from gen3d.datasets.seg_synthesis import build_seg_demo_dataset
from gen3d.datasets.segmentation import FutureBatchDataset, SemiSupervisedDataset
from gen3d.datasets.segmentation import future as future_module
from gen3d.models.segmentors import fst as fst_module
from gen3d.registry import DATASETS, MODELS

CROP = (32, 32)
K, B, N_CLASSES = 2, 2, 5  # demo dataset: background + 4 classes
LABELED = [dict(type="LoadSegImage"), dict(type="LoadSegMask"), dict(type="SegWeakAug", crop_size=CROP, seed=0),
           dict(type="PackSegInputs")]
UNLABELED = [dict(type="LoadSegImage"), dict(type="SegWeakAug", crop_size=CROP, seed=1),
             dict(type="SegStrongAug", seed=2), dict(type="PackSegInputs")]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_seg_demo_dataset(tmp_path_factory.mktemp("fst_w_demo"), n_labeled=3, n_unlabeled=5, n_val=1,
                                      size=48))


def _streams(root: str) -> dict:
    return dict(labeled=dict(type="FolderSegDataset", data_root=root, split="labeled", pipeline=LABELED),
                unlabeled=dict(type="FolderSegDataset", data_root=root, split="unlabeled", pipeline=UNLABELED))


def _wrapper(root: str, seed: int = 0) -> FutureBatchDataset:
    with DefaultScope.overwrite_default_scope("gen3d"):
        return FutureBatchDataset(k=K, seed=seed, **_streams(root))


def test_future_key_matches_the_model():
    assert future_module.FUTURE_KEY == fst_module.FUTURE_KEY


def test_k_extra_samples_deterministic_per_seed(demo_root):
    ds = _wrapper(demo_root)
    assert len(ds) == len(ds.dataset) == 5 and ds.two_stream and ds.metainfo["classes"][0] == "background"
    draws = [ds.future_indices(i) for i in range(len(ds))]
    assert all(len(d) == K for d in draws)
    assert all(0 <= i_l < 3 and 0 <= i_u < 5 for d in draws for i_l, i_u in d)
    assert draws == [_wrapper(demo_root).future_indices(i) for i in range(5)]  # a pure function of (seed, idx)
    assert ds.future_indices(-1) == draws[-1]
    assert draws != [_wrapper(demo_root, seed=1).future_indices(i) for i in range(5)]
    with pytest.raises(IndexError):
        ds.future_indices(5)
    item = ds[1]
    assert set(item) == {"labeled", "unlabeled", "future"} and len(item["future"]) == K
    for (i_l, i_u), fut in zip(draws[1], item["future"]):
        assert set(fut) == {"labeled", "unlabeled"}
        assert fut["labeled"]["data_samples"].img_path == ds.dataset.labeled.get_data_info(i_l)["img_path"]
        assert fut["unlabeled"]["data_samples"].img_path == ds.dataset.unlabeled.get_data_info(i_u)["img_path"]
        assert fut["labeled"]["inputs"].shape == (3, *CROP) and "inputs_strong" in fut["unlabeled"]


def test_main_item_is_the_plain_two_stream_item(demo_root):
    with DefaultScope.overwrite_default_scope("gen3d"):
        plain = SemiSupervisedDataset(**_streams(demo_root))
        wrapped = FutureBatchDataset(dataset=SemiSupervisedDataset(**_streams(demo_root)), k=K)
    for idx in (0, 3):  # fresh pipelines per dataset: the first read of each is bitwise identical
        ref, got = plain[idx], wrapped[idx]
        for stream in ("labeled", "unlabeled"):
            assert ref[stream]["data_samples"].img_path == got[stream]["data_samples"].img_path
        if idx == 0:
            assert torch.equal(ref["labeled"]["inputs"], got["labeled"]["inputs"])
            assert torch.equal(ref["unlabeled"]["inputs_strong"], got["unlabeled"]["inputs_strong"])


def test_wrapper_from_config_and_errors(demo_root):
    with DefaultScope.overwrite_default_scope("gen3d"):
        ds = DATASETS.build(dict(type="FutureBatchDataset", k=3, dataset=dict(type="SemiSupervisedDataset",
                                                                              **_streams(demo_root))))
        single = FutureBatchDataset(dataset=dict(type="FolderSegDataset", data_root=demo_root, split="labeled",
                                                 pipeline=LABELED), k=2)
        with pytest.raises(TypeError, match="needs"):
            FutureBatchDataset()
        with pytest.raises(ValueError, match="k must"):
            FutureBatchDataset(k=0, **_streams(demo_root))
    assert len(ds[0]["future"]) == 3
    assert not single.two_stream and all(0 <= i < 3 for i in single.future_indices(0))
    assert set(single[0]["future"][0]) == {"inputs", "data_samples"}


def test_collate_gives_k_two_stream_batches(demo_root):
    cfg = dict(batch_size=B, num_workers=0, sampler=dict(type="InfiniteSampler", shuffle=True, seed=0),
               dataset=dict(type="FutureBatchDataset", k=K, **_streams(demo_root)))
    with DefaultScope.overwrite_default_scope("gen3d"):
        loader = Runner.build_dataloader(cfg, seed=0)  # default collate_fn: pseudo_collate
    batch = next(iter(loader))
    assert set(batch) == {"labeled", "unlabeled", "future"}
    assert isinstance(batch["future"], list) and len(batch["future"]) == K
    for part in [batch, *batch["future"]]:
        lab, unl = part["labeled"], part["unlabeled"]
        assert len(lab["inputs"]) == len(unl["inputs"]) == len(unl["inputs_strong"]) == B
        assert all(s.gt_sem_seg.shape == CROP for s in lab["data_samples"])
        assert all(s.labeled is False for s in unl["data_samples"])


def test_fst_w_train_step_on_a_real_collated_batch(demo_root):
    ds = _wrapper(demo_root)
    data = pseudo_collate([ds[0], ds[3]])
    seg = dict(type="EncoderDecoder",
               backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", pretrained=False),
               decode_head=dict(type="DeepLabV3PlusHead", num_classes=N_CLASSES, channels=8, low_level_channels=4))
    torch.manual_seed(0)
    fst = MODELS.build(dict(type="FST", mode="W", k=K, same_batch=False, ema_alpha=0.99,
                            method=dict(type="MeanTeacher", segmentor=seg))).train()
    ow = OptimWrapper(torch.optim.SGD(fst.method.student.parameters(), lr=0.01, momentum=0.9))
    seen = []
    preprocess = fst.method.preprocess_batch
    fst.method.preprocess_batch = lambda b: seen.append(b) or preprocess(b)
    fst.train_step_at(data, ow, 0)  # plain step (m_0 = 0): reads the main batch only
    assert len(seen) == 1 and "future" not in seen[0]
    log_vars = fst.train_step_at(data, ow, 1)  # FST-W: K virtual students on data['future'], then the real step
    assert len(seen) == 2 + K and seen[2:] == data["future"]
    assert all(torch.isfinite(log_vars[key]) for key in ("loss", *(f"fst_v{i}_loss" for i in range(K))))
    assert np.isclose(float(log_vars["ema_momentum"]), 0.5)
    with pytest.raises(ValueError, match="needs data"):
        fst.train_step_at({k: v for k, v in data.items() if k != "future"}, ow, 2)
