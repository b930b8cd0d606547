"""Two-stream (labeled + unlabeled) dataset for semi-supervised segmentation (U2PL, FST) and UDA (GTA5 -> CS).

Design: one wrapper item is one labeled sample *and* one unlabeled sample, so any mmengine sampler
(``DefaultSampler``, ``InfiniteSampler``, both DDP-sharded) and the default ``pseudo_collate`` give batches with
equal labeled and unlabeled batch sizes, as U2PL (spec A5/A6: 4+4 per GPU on VOC, 2+2 on Cityscapes). A batch
is::

    {'labeled':   {'inputs': [(3, H, W) uint8] * B, 'data_samples': [SegDataSample] * B},
     'unlabeled': {'inputs': [...] * B, 'inputs_strong': [...] * B, 'data_samples': [SegDataSample] * B}}

Epoch length: ``len(self) = max(len(labeled), len(unlabeled))``; index ``i`` reads item ``i`` of the longer
stream and item ``perm[i % n]`` of the shorter one (``perm`` a fixed permutation drawn with ``seed``), so one
epoch is one pass over the larger stream and the shorter stream is cycled, each of its items seen
``floor`` or ``ceil(len / n)`` times. U2PL defines the epoch as one pass over the unlabeled list with the labeled
list resampled to that length (spec A6), which is the same whenever the unlabeled stream is the larger one
(every VOC / Cityscapes partition but blender 1/2, where both have 5 291 ids); for GTA5 -> Cityscapes the
source (labeled) stream is the larger. Which labeled item meets which unlabeled item is fixed, but the sampler
shuffles indices, so the composition of each batch is random on both sides; no loss couples a labeled item to
its partner. Iteration-based schedules (``InfiniteSampler``) make the epoch length irrelevant.

Rare class sampling (``rare_class_sampling=dict(class_temp=0.01, min_pixels=3000, min_crop_ratio=0.5)``, DAFormer's
RCS, see :mod:`.rcs`): the labeled (source) sample of item ``idx`` is no longer ``idx``'s but a class-balanced draw
(class by ``softmax((1 - f_c) / T)``, then a file with that class), from ``np.random.default_rng((seed, idx, tag))``,
and its crop is re-read until it holds enough pixels of the class. The unlabeled (target) side keeps its mapping
above (the official ``UDADataset`` draws it uniformly at random; both are uniform over the target images).
"""

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset

from gen3d.registry import DATASETS

from .rcs import RareClassSampler, rcs_rng

STREAMS = ("labeled", "unlabeled")


def _build(cfg: Mapping | BaseDataset, stream: str) -> BaseDataset:
    if not isinstance(cfg, Mapping):
        return cfg
    cfg = copy.deepcopy(dict(cfg))
    if stream == "unlabeled":
        cfg.setdefault("labeled", False)
    return DATASETS.build(cfg)


@DATASETS.register_module()
class SemiSupervisedDataset:
    """Pairs a labeled and an unlabeled dataset into one item per index (see the module docstring).

    Args:
        labeled: The labeled dataset, or its config; its pipeline ends with ``PackSegInputs``.
        unlabeled: The unlabeled dataset, or its config (``labeled=False`` is set when the config omits it);
            its pipeline usually adds the strong view (``SegStrongAug``) before ``PackSegInputs``.
        seed: Seed of the permutation that cycles the shorter stream, and of the rare-class draws.
        rare_class_sampling: None (off) or RCS settings of the labeled stream: ``class_temp``, ``min_pixels``,
            ``min_crop_ratio`` and optionally ``stats_dir`` (default: the labeled dataset's ``data_root``), see
            :class:`~gen3d.datasets.segmentation.rcs.RareClassSampler`.
        lazy_init: Defer building the index to :meth:`full_init` (called by mmengine's ``build_dataloader``).

    Returns (per item): ``{'labeled': <labeled item>, 'unlabeled': <unlabeled item>}``.
    """

    def __init__(
        self,
        labeled: Mapping | BaseDataset,
        unlabeled: Mapping | BaseDataset,
        seed: int = 0,
        rare_class_sampling: Mapping | None = None,
        lazy_init: bool = False,
    ) -> None:
        self.labeled = _build(labeled, "labeled")
        self.unlabeled = _build(unlabeled, "unlabeled")
        self.seed = int(seed)
        self.rare_class_sampling = None if rare_class_sampling is None else dict(rare_class_sampling)
        self.rcs: RareClassSampler | None = None
        self._fully_initialized = False
        self._perm: np.ndarray | None = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """Meta information of the labeled dataset (classes, palette, ignore_index)."""
        return copy.deepcopy(self.labeled.metainfo)

    def full_init(self) -> None:
        """Initialise both datasets, the permutation of the shorter stream and the rare class sampler."""
        if self._fully_initialized:
            return
        for ds in (self.labeled, self.unlabeled):
            if hasattr(ds, "full_init"):
                ds.full_init()
        n_l, n_u = len(self.labeled), len(self.unlabeled)
        if n_l == 0 or n_u == 0:
            raise ValueError(f"both streams need at least one image (labeled: {n_l}, unlabeled: {n_u})")
        self._perm = np.random.default_rng(self.seed).permutation(min(n_l, n_u))
        if self.rare_class_sampling is not None:
            self.rcs = RareClassSampler.for_dataset(self.labeled, **self.rare_class_sampling)
        self._fully_initialized = True

    def stream_indices(self, idx: int) -> tuple[int, int]:
        """``(labeled index, unlabeled index)`` of wrapper index ``idx`` (labeled: the RCS draw when RCS is on)."""
        i_l, i_u, _ = self._draw(idx)
        return i_l, i_u

    def rcs_class(self, idx: int) -> int | None:
        """The class RCS drew for item ``idx`` (None when RCS is off)."""
        return self._draw(idx)[2]

    def _draw(self, idx: int) -> tuple[int, int, int | None]:
        self.full_init()
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} out of range for a two-stream dataset of length {n}")
        idx %= n
        n_l, n_u = len(self.labeled), len(self.unlabeled)
        short = int(self._perm[idx % len(self._perm)])
        i_l, i_u = (idx, short) if n_l >= n_u else (short, idx)
        if self.rcs is None:
            return i_l, i_u, None
        cls, i_l = self.rcs.draw(rcs_rng(self.seed, idx))
        return i_l, i_u, cls

    def read_labeled(self, index: int, cls: int | None = None) -> Any:
        """Labeled item ``index``; with an RCS class, re-read until its crop holds enough pixels of ``cls``."""
        if cls is None or self.rcs is None:
            return self.labeled[index]
        return self.rcs.read(self.labeled, index, cls)

    def __len__(self) -> int:
        """``max(len(labeled), len(unlabeled))``."""
        return max(len(self.labeled), len(self.unlabeled))

    def __getitem__(self, idx: int) -> dict[str, Any]:
        """``{'labeled': item, 'unlabeled': item}``."""
        i_l, i_u, cls = self._draw(idx)
        return {"labeled": self.read_labeled(i_l, cls), "unlabeled": self.unlabeled[i_u]}

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(labeled={type(self.labeled).__name__}[{len(self.labeled)}], "
            f"unlabeled={type(self.unlabeled).__name__}[{len(self.unlabeled)}]"
            f"{'' if self.rcs is None else f', rcs={self.rcs!r}'})"
        )
