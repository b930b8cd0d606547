"""Per-sample random state (gen3d.datasets.seeding): a sample's draws are a function of its key and nothing else."""

import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

from gen3d.datasets.seeding import (
    KeyedSampler,
    SampleKey,
    SeededDataset,
    private_seed,
    seeded_dataloader,
    seeded_sample,
)
from gen3d.datasets.transforms import Albu, GANRandomFlip, PoseRandomFlip, SegWeakAug

ALBU = [dict(type="HorizontalFlip", p=0.5), dict(type="RandomBrightnessContrast", p=1.0)]


class _Draws(Dataset):
    """Each item: one draw from every generator a pipeline uses (albumentations', torch's, numpy's, python's)."""

    def __init__(self, n=6):
        self.n, self.albu = n, Albu(ALBU)
        self.img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        img = self.albu({"img": self.img.copy()})["img"]
        return torch.tensor([float(img.sum()), torch.rand(()).item(), np.random.rand(), random.random(), i])


def _global_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()


def _assert_same_states(a, b):
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_sample_key_is_an_index_that_pickles_with_its_key():
    key = SampleKey(5, (7, 1, 0, 3))
    assert key == 5 and [10, 11, 12, 13, 14, 15][key] == 15
    back = pickle.loads(pickle.dumps(key))  # what a worker receives through its index queue
    assert isinstance(back, SampleKey) and int(back) == 5 and back.key == (7, 1, 0, 3)


def test_seeded_dataset_draws_from_the_key_and_restores_the_callers_state():
    ds = SeededDataset(_Draws())
    before = _global_states()
    a, b = ds[SampleKey(2, (7, 0, 0, 4))], ds[SampleKey(2, (7, 0, 0, 4))]
    _assert_same_states(before, _global_states())  # reading a sample never moves the training process's stream
    assert torch.equal(a, b)
    for other in ((7, 1, 0, 4), (8, 0, 0, 4), (7, 0, 1, 4), (7, 0, 0, 5)):  # epoch, seed, rank, position
        c = ds[SampleKey(2, other)]
        assert (c[:4] != a[:4]).all(), other  # every generator draws anew (albumentations' too)
    assert ds.n == 6 and len(ds) == 6  # attributes are the dataset's
    assert ds[2][4] == 2  # a plain index reads as before, from the current states


def test_private_seeds_are_new_for_each_call_within_a_sample():
    assert private_seed() is None
    with seeded_sample((1, 2)):
        first = [private_seed(), private_seed(), private_seed(3)]
    with seeded_sample((1, 2)):
        again = [private_seed(), private_seed(), private_seed(3)]
    assert first == again and len(set(first)) == 3
    # Two transforms with the same settings in one sample (e.g. the labeled and unlabeled streams) draw apart.
    one, two = Albu(ALBU), Albu(ALBU)
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    with seeded_sample((4,)):
        outs = [one({"img": img.copy()})["img"], two({"img": img.copy()})["img"]]
    assert not np.array_equal(*outs)


@pytest.mark.parametrize("make", [
    lambda: SegWeakAug(crop_size=(8, 8), scale_range=(0.5, 2.0), flip_prob=0.5),
    lambda: GANRandomFlip(prob=0.5),
    lambda: PoseRandomFlip(prob=0.5),
])
def test_segmentation_and_gan_augmentations_follow_the_sample_key(make):
    aug, img = make(), np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    outs = {}
    for key in [(0, e) for e in range(6)] + [(0, 0)]:
        with seeded_sample(key):
            outs.setdefault(key, []).append(aug({"img": img.copy(), "gt_seg_map": img[..., 0].copy()})["img"])
    assert np.array_equal(*outs[(0, 0)])  # same key, same augmentation, whatever ran in between
    assert len({o[0].tobytes() for o in outs.values()}) > 1  # and it is random across epochs


def test_keyed_sampler_keys_and_passes_epochs_on():
    inner = DefaultSampler(list(range(5)), shuffle=True, seed=3)
    sampler = KeyedSampler(inner, seed=9, rank=1)
    sampler.set_epoch(2)
    keys = list(sampler)
    assert inner.epoch == 2 and sampler.shuffle is True and len(sampler) == 5
    assert [int(k) for k in keys] == list(inner)
    assert [k.key for k in keys] == [(9, 2, 1, p) for p in range(5)]


def test_seeded_dataloader_keeps_the_global_torch_stream_and_settings():
    ds = _Draws()
    plain = DataLoader(ds, batch_size=2, sampler=DefaultSampler(ds, seed=0), num_workers=0)
    loader = seeded_dataloader(plain, seed=0)
    assert isinstance(loader.dataset, SeededDataset) and isinstance(loader.sampler, KeyedSampler)
    assert loader.batch_size == 2 and len(loader) == 3
    before = _global_states()
    first = torch.cat(list(loader))
    _assert_same_states(before, _global_states())  # a loader pass draws nothing from the training process's state
    assert torch.equal(first, torch.cat(list(loader)))  # same epoch, same samples
    loader.sampler.set_epoch(1)
    assert not torch.equal(first[:, :4], torch.cat(list(loader))[:, :4])
    custom = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 2, False))
    assert seeded_dataloader(custom, seed=0) is custom  # custom batch samplers are left alone
