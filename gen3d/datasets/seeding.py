"""Per-sample random state: every sample's random draws are a pure function of (run seed, epoch, position).

Why. mmengine seeds each dataloader worker once, from ``seed + worker_id`` (``mmengine.dataset.worker_init_fn``),
and torch draws the workers' base seed from the *training process's* global torch generator each time a loader
iterator is created. With ``persistent_workers=True`` (the shipped configs) both break resume: an uninterrupted
run creates its iterator once (one draw from the global generator, workers whose random state runs on across
epochs), a run resumed at epoch 2 creates it at epoch 2 (one draw more in the training stream: other dropout masks,
other UniAD feature jitter; workers restarted from ``seed + worker_id``: other augmentations). Without persistent
workers every epoch restarts the workers from the same seeds. albumentations 2.x ``Compose`` keeps generators of
its own, untouched by any global seed (and seeded from OS entropy when ``seed=None``).

How. :func:`seeded_dataloader` (called by :meth:`gen3d.engine.Runner.build_dataloader` for every loader it builds
with a seed) rebuilds the loader with

* :class:`KeyedSampler` around its sampler: it yields :class:`SampleKey` indices, ints that also carry the key
  ``(seed, epoch, rank, position)`` (position: the index's place in this pass over the sampler);
* :class:`SeededDataset` around its dataset: for a :class:`SampleKey` it seeds python's ``random``, numpy's global
  generator and torch's CPU generator from the key and runs the wrapped ``__getitem__`` (in the training process,
  ``num_workers=0``, the previous states are restored after it); transforms that keep a generator of their own
  (``Albu``, ``SegWeakAug``, ``SegStrongAug``, ``SegAlbu``, ``GANRandomFlip``) reseed it from :func:`private_seed`,
  a new seed for each call within the sample;
* a ``torch.Generator`` of its own, so iterating the loader never draws from the global torch generator.

A sample's augmentation then depends on neither the worker that loads it, persistent or fresh, nor ``num_workers``
(``0`` included: the training process's states are restored after each sample), nor on whether the run was resumed.
Dataset-level draws already keyed by index (``FutureBatchDataset``, rare-class sampling) are unchanged.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from mmengine.dist import get_rank
from torch.utils.data import BatchSampler, DataLoader, Dataset, IterableDataset, Sampler

#: DataLoader arguments copied from the loader mmengine built.
_LOADER_ARGS = ("batch_size", "drop_last", "num_workers", "collate_fn", "pin_memory", "timeout", "worker_init_fn",
                "multiprocessing_context", "prefetch_factor", "persistent_workers", "pin_memory_device", "in_order")

_active: list | None = None  # [key, number of private seeds handed out] while a keyed sample is being read


class SampleKey(int):
    """A dataset index that also carries the key its random draws are derived from.

    Args:
        index: The dataset index (the int value).
        key: Non-negative ints, e.g. ``(seed, epoch, rank, position)``.
    """

    key: tuple[int, ...]

    def __new__(cls, index: int, key: Sequence[int]) -> SampleKey:
        """The int ``index`` carrying ``key``."""
        obj = super().__new__(cls, index)
        obj.key = tuple(int(k) for k in key)
        return obj

    def __reduce__(self) -> tuple:
        return SampleKey, (int(self), self.key)


def _seed_words(key: Sequence[int], n: int) -> np.ndarray:
    return np.random.SeedSequence([int(k) % 2**64 for k in key]).generate_state(n, dtype=np.uint64)


@contextlib.contextmanager
def seeded_sample(key: Sequence[int]) -> Iterator[None]:
    """Seed python, numpy (global) and torch (CPU) from ``key`` for the duration of the block.

    In the training process (``num_workers=0``) the previous states are restored afterwards; a dataloader worker
    keeps the seeded ones (its next sample seeds them anew). Inside the block :func:`private_seed` hands out seeds
    derived from ``key``.

    Args:
        key: Non-negative ints identifying the sample (see :class:`SampleKey`).
    """
    global _active
    # A dataloader worker seeds every sample anew: only the training process (num_workers=0) needs its states back.
    restore = torch.utils.data.get_worker_info() is None
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if restore else None
    previous, words = _active, _seed_words(key, 3)
    random.seed(int(words[0]))
    np.random.seed(np.frombuffer(words[1].tobytes(), dtype=np.uint32))
    torch.default_generator.manual_seed(int(words[2]))  # CPU only: torch.manual_seed also seeds every device (slow)
    _active = [tuple(int(k) for k in key), 0]
    try:
        yield
    finally:
        _active = previous
        if saved is not None:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


def private_seed(offset: int | None = None) -> int | None:
    """A seed for a transform's own generator: new at each call inside :func:`seeded_sample`, else None.

    Args:
        offset: Mixed into the seed (a transform's configured ``seed``), so two seeds give two streams.

    Returns:
        A 32-bit seed derived from the current sample's key and the number of earlier calls for this sample, or
        None outside a keyed sample (the transform then keeps its own stream).
    """
    if _active is None:
        return None
    _active[1] += 1
    return int(_seed_words((*_active[0], _active[1], offset or 0), 1)[0] % 2**32)


class KeyedSampler(Sampler):
    """Yield the wrapped sampler's indices as :class:`SampleKey` with key ``(seed, epoch, rank, position)``.

    ``epoch`` is the wrapped sampler's ``epoch`` attribute (``set_epoch`` is passed on; 0 when it has none, e.g.
    ``InfiniteSampler``, whose single pass makes ``position`` unique). Other attributes are the wrapped sampler's.

    Args:
        sampler: The sampler mmengine built (``DefaultSampler``, ``InfiniteSampler``, ...).
        seed: The run's seed.
        rank: This process's rank.
    """

    def __init__(self, sampler: Sampler, seed: int, rank: int = 0) -> None:
        self.sampler, self.seed, self.rank = sampler, int(seed), int(rank)

    def __iter__(self) -> Iterator[SampleKey]:
        epoch = int(getattr(self.sampler, "epoch", 0))
        for position, index in enumerate(self.sampler):
            yield SampleKey(index, (self.seed, epoch, self.rank, position))

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to the wrapped sampler."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __getattr__(self, name: str) -> Any:
        if name == "sampler":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.sampler, name)


class SeededDataset(Dataset):
    """Read a :class:`SampleKey` inside :func:`seeded_sample`; other indices, and every attribute, as the dataset.

    Args:
        dataset: The dataset mmengine built.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.wrapped = dataset

    def __len__(self) -> int:
        return len(self.wrapped)

    def __getitem__(self, index: int) -> Any:
        if not isinstance(index, SampleKey):
            return self.wrapped[index]
        with seeded_sample(index.key):
            return self.wrapped[int(index)]

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.wrapped!r})"


def seeded_dataloader(loader: DataLoader, seed: int) -> DataLoader:
    """The same loader with per-sample random state (see the module docstring).

    Loaders over iterable datasets, without automatic batching, with a custom batch sampler, or already seeded are
    returned unchanged.

    Args:
        loader: A loader built by mmengine's ``Runner.build_dataloader``.
        seed: The run's seed.

    Returns:
        A new ``DataLoader`` over :class:`SeededDataset` with a :class:`KeyedSampler` and a generator of its own.
    """
    batches = loader.batch_sampler
    plain = type(batches) is BatchSampler and batches.sampler is loader.sampler and loader.batch_size is not None
    if not plain or isinstance(loader.dataset, (IterableDataset, SeededDataset)):
        return loader
    kwargs = {name: getattr(loader, name) for name in _LOADER_ARGS if hasattr(loader, name)}
    return DataLoader(SeededDataset(loader.dataset), sampler=KeyedSampler(loader.sampler, seed, get_rank()),
                      generator=torch.Generator().manual_seed(int(seed)), **kwargs)


def set_loader_seed(loader: Any, seed: int) -> None:
    """Make a loader built by :func:`seeded_dataloader` key its samples with ``seed`` (e.g. a resumed run's seed)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, KeyedSampler):
        sampler.seed = int(seed)
