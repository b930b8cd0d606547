"""Bounded caches for frozen-backbone features, so later epochs skip the backbone.

Valid only while the features of an image cannot change between epochs: frozen backbone in eval mode and a
training pipeline without random augmentation (the UniAD recipe). Keys are built by the model from the image
path, the input size and the backbone identity; if the data pipeline changes (resize, colour order), clear a
disk cache by hand.

Bounding policy: ``eviction='none'`` (default) stops admitting entries once full, so with a per-epoch shuffled
scan over ``N`` images and room for ``M`` of them the hit rate is ``M / N`` every epoch; ``'lru'`` evicts the least
recently used entry instead, which under such a cyclic scan can drop the hit rate far below ``M / N``.
"""

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections import OrderedDict

import torch
from torch import Tensor

__all__ = ["DiskFeatureCache", "FeatureCache", "MemoryFeatureCache", "build_feature_cache", "check_cacheable_pipeline"]


class FeatureCache(ABC):
    """Interface: ``get(key) -> Tensor | None``, ``put(key, tensor)``; counts hits and misses."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    @abstractmethod
    def get(self, key: str) -> Tensor | None:
        """Return the cached CPU tensor for ``key`` or ``None``."""

    @abstractmethod
    def put(self, key: str, value: Tensor) -> None:
        """Store ``value`` (copied to CPU) under ``key`` if the bound allows."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of cached items."""


class MemoryFeatureCache(FeatureCache):
    """In-process cache bounded by item count and/or bytes.

    Args:
        max_items: Maximum number of entries (``None``: unbounded).
        max_bytes: Maximum total tensor bytes (``None``: unbounded).
        eviction: ``'none'`` (stop admitting when full) or ``'lru'``.
    """

    def __init__(self, max_items: int | None = None, max_bytes: int | None = None, eviction: str = "none") -> None:
        super().__init__()
        if eviction not in ("none", "lru"):
            raise ValueError(f"eviction must be 'none' or 'lru', got {eviction!r}")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.eviction = eviction
        self.nbytes = 0
        self._store: OrderedDict[str, Tensor] = OrderedDict()

    def _fits(self, extra_items: int, extra_bytes: int) -> bool:
        items_ok = self.max_items is None or len(self._store) + extra_items <= self.max_items
        bytes_ok = self.max_bytes is None or self.nbytes + extra_bytes <= self.max_bytes
        return items_ok and bytes_ok

    def get(self, key: str) -> Tensor | None:
        """Return the cached tensor or ``None``."""
        value = self._store.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        if self.eviction == "lru":
            self._store.move_to_end(key)
        return value

    def put(self, key: str, value: Tensor) -> None:
        """Store a detached CPU copy of ``value``."""
        if key in self._store:
            return
        size = value.numel() * value.element_size()
        if self.max_bytes is not None and size > self.max_bytes:
            return
        if self.eviction == "lru":
            while self._store and not self._fits(1, size):
                _, old = self._store.popitem(last=False)
                self.nbytes -= old.numel() * old.element_size()
        if not self._fits(1, size):
            return
        self._store[key] = value.detach().to("cpu", copy=True)
        self.nbytes += size

    def __len__(self) -> int:
        return len(self._store)


class DiskFeatureCache(FeatureCache):
    """One ``.pt`` file per entry in ``cache_dir`` (read with ``weights_only=True``), bounded by total bytes.

    Files are written atomically (temporary file + ``os.replace``), so several processes may share a directory.
    Entries are never evicted; once ``max_bytes`` is reached new entries are simply not written.

    Args:
        cache_dir: Directory (created if missing).
        max_bytes: Soft bound on the total size of the ``.pt`` files: writing stops once it is reached (the last
            file written may cross it). Counted per process when several processes share the directory.
    """

    def __init__(self, cache_dir: str, max_bytes: int = 8 * 1024**3) -> None:
        super().__init__()
        self.cache_dir = cache_dir
        self.max_bytes = max_bytes
        os.makedirs(cache_dir, exist_ok=True)
        self.nbytes = sum(e.stat().st_size for e in os.scandir(cache_dir) if e.name.endswith(".pt"))

    def _path(self, key: str) -> str:
        return os.path.join(self.cache_dir, hashlib.sha1(key.encode()).hexdigest() + ".pt")

    def get(self, key: str) -> Tensor | None:
        """Load the entry for ``key`` or return ``None``."""
        path = self._path(key)
        if not os.path.exists(path):
            self.misses += 1
            return None
        self.hits += 1
        return torch.load(path, map_location="cpu", weights_only=True)

    def put(self, key: str, value: Tensor) -> None:
        """Write ``value`` unless the directory is full or the entry exists."""
        path = self._path(key)
        if os.path.exists(path) or self.nbytes >= self.max_bytes:
            return
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
        os.close(fd)
        torch.save(value.detach().to("cpu", copy=True), tmp)
        self.nbytes += os.path.getsize(tmp)
        os.replace(tmp, path)

    def __len__(self) -> int:
        return sum(1 for e in os.scandir(self.cache_dir) if e.name.endswith(".pt"))


def build_feature_cache(cfg: dict | FeatureCache | None) -> FeatureCache | None:
    """Build a feature cache from a config.

    Args:
        cfg: ``dict(type='memory', max_items=..., max_bytes=..., eviction=...)``,
            ``dict(type='disk', cache_dir=..., max_bytes=...)`` (``dir`` is accepted for ``cache_dir``), or a
            :class:`FeatureCache` / ``None``, passed through.

    Returns:
        The cache, or ``None``.
    """
    if cfg is None or isinstance(cfg, FeatureCache):
        return cfg
    cfg = dict(cfg)
    kind = cfg.pop("type", "memory")
    if kind == "memory":
        return MemoryFeatureCache(**cfg)
    if kind == "disk":
        if "dir" in cfg:
            cfg["cache_dir"] = cfg.pop("dir")
        return DiskFeatureCache(**cfg)
    raise ValueError(f"unknown feature cache type {kind!r}; use 'memory' or 'disk'")


#: Transforms whose output depends only on the file (no random draw): a feature cache stays valid behind them.
DETERMINISTIC_TRANSFORMS = frozenset({"LoadAnomalyImage", "LoadAnomalyMask", "PackAnomalyInputs"})
#: albumentations transforms inside ``Albu`` that draw nothing at ``p=1`` (the default of these).
DETERMINISTIC_ALBU = frozenset({"Resize", "LongestMaxSize", "SmallestMaxSize", "CenterCrop", "PadIfNeeded",
                                "Normalize", "ToFloat", "FromFloat", "ToGray", "ToRGB"})


def check_cacheable_pipeline(pipeline: list, where: str = "train_dataloader.dataset.pipeline") -> None:
    """Refuse a feature cache in front of a training pipeline that may draw random augmentations.

    The cache keys features by image path, so behind a random transform it would train on the first epoch's draw
    forever. A transform is accepted when it is in :data:`DETERMINISTIC_TRANSFORMS`, or is ``Albu`` whose inner
    transforms are all in :data:`DETERMINISTIC_ALBU` with ``p`` 1 (or unset); anything else (unknown transforms
    included: they may be random) is refused.

    Args:
        pipeline: The training pipeline, as config dicts.
        where: The config key, for the message.

    Raises:
        ValueError: Naming the transform and the two ways out.
    """
    def refuse(name: str) -> None:
        raise ValueError(f"model.feature_cache with {where}: {name} may draw random augmentations, and the cache "
                         "would train on the features of its first draw every epoch; remove the transform, or set "
                         "model.feature_cache=None (--cfg-options model.feature_cache=None)")

    for step in pipeline or []:
        name = step.get("type") if isinstance(step, dict) else type(step).__name__
        name = name if isinstance(name, str) else getattr(name, "__name__", str(name))
        if name == "Albu":
            for inner in step.get("transforms", []):
                inner_name = inner.get("type") if isinstance(inner, dict) else type(inner).__name__
                if inner_name not in DETERMINISTIC_ALBU or float(inner.get("p", 1.0) if isinstance(inner, dict)
                                                                 else getattr(inner, "p", 1.0)) != 1.0:
                    refuse(f"Albu transform {inner_name}")
        elif name not in DETERMINISTIC_TRANSFORMS:
            refuse(f"transform {name}")
