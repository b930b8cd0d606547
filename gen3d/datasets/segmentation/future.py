"""K extra ("future") two-stream samples per item, for FST-W (arXiv 2209.06993, ``FST(mode='W')``).

Official loader: usr922/FST ``mmseg/datasets/step_uda_dataset.py`` (``StepUDADataset``, config
``configs/_base_/datasets/stepuda_gta_to_cityscapes_512x512.py`` with ``ahead_step=3``). With rare-class sampling
on (the only mode that yields future samples there), every item is ``get_rare_class_sample()`` plus ``ahead_step``
more calls of it, stored under ``future_{i}.*``; each call draws the source image by RCS and the target image
uniformly (``np.random.choice(len(target))``), independently of the item index and of each other, from the global
NumPy generator (seeded per dataloader worker by mmseg's ``worker_init_fn``). ``fst_w.py`` then steps virtual
student ``i`` on the collated ``future_{i}`` batch. The semi-supervised code (``semi_seg``) has no FST-W.

gen3d's item is the wrapped dataset's item, unchanged, plus ``'future'``: a list of K items of the same structure::

    {'labeled': {...}, 'unlabeled': {...}, 'future': [{'labeled': {...}, 'unlabeled': {...}}] * K}

mmengine's default ``pseudo_collate`` transposes that list, so a batch's ``data['future']`` is a list of K batches,
each shaped like the main two-stream batch, as :meth:`gen3d.models.segmentors.FST.train_step` reads it; no custom
collate function is needed.

Draws: future sample ``j`` of item ``idx`` takes a labeled index and an unlabeled index, independent, the unlabeled one
uniform over its stream; the labeled one is uniform too, unless the wrapped :class:`SemiSupervisedDataset` has rare
class sampling on (``rare_class_sampling=dict(...)``, see :mod:`.rcs`): then, as in ``StepUDADataset``, each future
source sample is an RCS draw (class, then a file with it; its crop re-read until it holds the class). The draws
come from ``np.random.default_rng((seed, idx))``: a pure function of ``(seed, idx)``, so they do not depend on the
worker, the number of workers, the visit or a resume. Every visit of ``idx`` meets the same K partner indices;
batches still mix freely (the sampler shuffles the indices) and the partners' augmentations are redrawn on each
visit by the pipelines. The main sample is read first, with the wrapped dataset's own index mapping. In a loader built
by gen3d's Runner each item's random state is seeded from the item's key (:mod:`gen3d.datasets.seeding`): the main
sample is augmented as without the wrapper, and the partners' augmentations follow from the same key. Read outside
such a loader, the pipelines' random state is shared, so the random crops of later items differ from a run without the
wrapper (as in the official code).
"""

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from gen3d.registry import DATASETS

from .semi import STREAMS, SemiSupervisedDataset

FST_W_K = 3  # official `ahead_step` of configs/fst_w/*.py and configs/_base_/datasets/stepuda_*.py
FUTURE_KEY = "future"  # must match gen3d.models.segmentors.fst.FUTURE_KEY


@DATASETS.register_module()
class FutureBatchDataset:
    """Adds K independently drawn two-stream samples to every item of a two-stream dataset (FST-W).

    Args:
        dataset: The wrapped dataset (a :class:`SemiSupervisedDataset`, any dataset with ``labeled`` /
            ``unlabeled`` streams, or a single-stream dataset) or its config. ``None`` builds a
            :class:`SemiSupervisedDataset` from ``two_stream_kwargs``, so a config can inherit
            ``configs/_base_/datasets/*.py`` unchanged and only set ``type='FutureBatchDataset'``.
        k: Number of future samples per item (FST-W's virtual students; official 3).
        seed: Seed of the future draws (see the module docstring); also the wrapped two-stream dataset's seed when
            it is built here.
        lazy_init: Defer :meth:`full_init` (called by mmengine's ``build_dataloader``).
        **two_stream_kwargs: ``labeled``, ``unlabeled`` (configs or datasets) and optionally ``rare_class_sampling``
            when ``dataset`` is None (see :class:`SemiSupervisedDataset`).

    Returns (per item): the wrapped item plus ``'future'``: a list of K items of the same structure.
    """

    def __init__(
        self,
        dataset: Mapping | Any | None = None,
        k: int = FST_W_K,
        seed: int = 0,
        lazy_init: bool = False,
        **two_stream_kwargs,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if dataset is None:
            if not two_stream_kwargs:
                raise TypeError("FutureBatchDataset needs `dataset` or the `labeled` / `unlabeled` streams")
            dataset = SemiSupervisedDataset(seed=seed, lazy_init=True, **two_stream_kwargs)
        elif two_stream_kwargs:
            raise TypeError(f"unexpected arguments {sorted(two_stream_kwargs)} next to `dataset`")
        elif isinstance(dataset, Mapping):
            dataset = DATASETS.build(copy.deepcopy(dict(dataset)))
        self.dataset = dataset
        self.k = int(k)
        self.seed = int(seed)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def two_stream(self) -> bool:
        """Whether the wrapped dataset has ``labeled`` and ``unlabeled`` streams."""
        return all(hasattr(self.dataset, name) for name in STREAMS)

    @property
    def metainfo(self) -> dict:
        """Meta information of the wrapped dataset."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Initialise the wrapped dataset."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, "full_init"):
            self.dataset.full_init()
        self._fully_initialized = True

    def __len__(self) -> int:
        """Length of the wrapped dataset (the main stream defines the epoch)."""
        return len(self.dataset)

    def future_indices(self, idx: int) -> list[tuple[int, int]] | list[int]:
        """Indices of the K future samples of item ``idx``.

        Args:
            idx: Item index, ``-len(self) <= idx < len(self)``.

        Returns:
            K ``(labeled index, unlabeled index)`` pairs (two-stream), or K indices of the wrapped dataset.
        """
        draws = self._draws(idx)
        return [d[:2] for d in draws] if self.two_stream else draws

    @property
    def rcs(self) -> Any:
        """The wrapped dataset's rare class sampler, or None."""
        return getattr(self.dataset, "rcs", None) if self.two_stream else None

    def _draws(self, idx: int) -> list[tuple[int, int, int | None]] | list[int]:
        """``(labeled index, unlabeled index, RCS class or None)`` per future sample (K indices if single-stream)."""
        self.full_init()
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for a dataset of length {n}")
        rng = np.random.default_rng((self.seed, idx % n))
        if not self.two_stream:
            return [int(i) for i in rng.integers(0, n, size=self.k)]
        n_l, n_u = len(self.dataset.labeled), len(self.dataset.unlabeled)
        rcs = self.rcs
        if rcs is None:
            draws = rng.integers(0, (n_l, n_u), size=(self.k, 2))
            return [(int(i_l), int(i_u), None) for i_l, i_u in draws]
        out = []
        for _ in range(self.k):  # as StepUDADataset: each future sample is one get_rare_class_sample()
            cls, i_l = rcs.draw(rng)
            out.append((i_l, int(rng.integers(n_u)), cls))
        return out

    def __getitem__(self, idx: int) -> dict[str, Any]:
        """The wrapped item (read first) plus ``'future'``: K independently drawn items of the same structure."""
        item = self.dataset[idx]
        if not isinstance(item, Mapping):
            raise TypeError(f"FutureBatchDataset wraps datasets of dict items, got {type(item).__name__}")
        if FUTURE_KEY in item:
            raise KeyError(f"the wrapped item already has a '{FUTURE_KEY}' key")
        future: list[Any] = []
        for draw in self._draws(idx):
            if self.two_stream:
                i_l, i_u, cls = draw
                labeled = self.dataset.labeled[i_l] if cls is None else self.rcs.read(self.dataset.labeled, i_l, cls)
                future.append({"labeled": labeled, "unlabeled": self.dataset.unlabeled[i_u]})
            else:
                future.append(self.dataset[draw])
        return {**item, FUTURE_KEY: future}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, seed={self.seed}, dataset={self.dataset!r})"
