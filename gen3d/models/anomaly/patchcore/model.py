"""PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022, arXiv 2106.08265).

``images -> frozen backbone (two mid-level stages) -> 3x3 local average (Sec. 3.1, neighbourhood aggregation)
-> deeper map upsampled to the shallower one and concatenated -> patch features``. Fitting is one pass over the
normal training images, no gradient: the patch features of each class are reduced to a greedy k-center coreset
(:mod:`.coreset`, ratio 0.1). Testing scores every patch by its distance to the nearest coreset member of the
*sample's class* and the image by Eq. 7 (:mod:`.scoring`).

gen3d trains PatchCore per class but holds all classes in one model object: :class:`~.memory_bank.MemoryBanks`
has one bank per class, and a sample is scored against the bank of its ``cls_name``. Under ``tools/train.py`` a
one-epoch loop calls :meth:`PatchCore.train_step` (collects features, no optimizer step) and
:class:`~.hooks.PatchCoreFitHook` builds the banks at the end of the epoch, before the epoch's checkpoint; the
validation that follows fits the per-class thresholds (``AnomalyThresholdHook``), exactly as for UniAD.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from mmengine.dist import all_gather_object, get_world_size
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS
from gen3d.structures import AnomalyDataSample

from .coreset import DEFAULT_PROJECTION_DIM, DEFAULT_SAMPLING_RATIO, coreset_indices
from .memory_bank import MemoryBanks
from .scoring import (
    DEFAULT_NUM_NEIGHBORS,
    DEFAULT_SIGMA,
    PatchCoreAnomalyMap,
    nearest_neighbors,
    reweighted_image_score,
)

# anomalib's default layers are layer2 and layer3 of wide_resnet50_2: the last residual stage at stride 8 and the
# last one at stride 16 (the paper's "mid-level" features, Sec. 3.1). On tf_efficientnet_lite0 (stages of
# 1/2/2/3/3/4/1 blocks at strides 2/4/8/16/16/32/32) the same rule picks the last block of stage 2 (stride 8, 40 ch,
# flat block 4) and of stage 4 (stride 16, 112 ch, flat block 10): 152 channels. These are the maps timm's
# ``features_only`` calls ``blocks.2`` and ``blocks.4``, i.e. anomalib's Lite0 layer names.
PATCHCORE_OUT_BLOCKS: dict[str, tuple[int, int]] = {
    "tf_efficientnet_lite0": (4, 10),
    "efficientnet_lite0": (4, 10),
}
DEFAULT_BACKBONE = dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", out_blocks=(4, 10),
                        pretrained="lite0-offline", frozen=True)
INPUT_SIZE = (224, 224)
DEFAULT_CLASS = "default"  # samples without cls_name (as the anomaly metric)


def _build(cfg: dict | nn.Module, defaults: dict) -> nn.Module:
    if isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build({**defaults, **dict(cfg)})


@MODELS.register_module()
class PatchCore(BaseModel):
    """PatchCore with one memory bank per product class.

    Args:
        backbone: Config or module of a frozen extractor exposing ``out_channels`` / ``out_strides`` and returning a
            list of maps (default: Lite0 flat blocks 4 and 10 with the offline ImageNet weights).
        input_size: ``(H, W)`` of the preprocessed inputs (and of the anomaly maps).
        coreset_ratio: Share of each class's patch features kept (paper/anomalib default 0.1; 1.0 keeps all).
        projection_dim: Random-projection dimension of the coreset distances (the paper's code: 128).
        num_neighbors: ``b`` of the image-score re-weighting (Eq. 7; anomalib: 9; 1 = max patch score).
        pool_size: Local neighbourhood averaged per patch (Sec. 3.1, ``p = 3``: stride 1, padding 1).
        blur_sigma: Gaussian smoothing of the anomaly map in pixels (anomalib: 4).
        coreset_seed: Seed of the projection and start point (banks are reproducible from the same features).
        data_preprocessor: Config of the preprocessor; default mean = std = 127.5 (Lite0's normalisation).
        init_cfg: mmengine init config.

    Attributes:
        memory_banks: The fitted banks (in the state dict as ``memory_banks.bank_<hex class name>``).
        thresholds: ``{cls_name: {'image': t, 'pixel': t}}`` set by ``AnomalyThresholdHook``; where a sample's class
            has them ``predict`` adds ``pred_label`` and ``pred_mask``.
    """

    def __init__(
        self,
        backbone: dict | nn.Module = DEFAULT_BACKBONE,
        input_size: Sequence[int] = INPUT_SIZE,
        coreset_ratio: float = DEFAULT_SAMPLING_RATIO,
        projection_dim: int | None = DEFAULT_PROJECTION_DIM,
        num_neighbors: int = DEFAULT_NUM_NEIGHBORS,
        pool_size: int = 3,
        blur_sigma: float = DEFAULT_SIGMA,
        coreset_seed: int = 0,
        data_preprocessor: dict | nn.Module | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type="ImgDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not coreset_ratio > 0:
            raise ValueError(f"coreset_ratio must be > 0, got {coreset_ratio}")
        if int(num_neighbors) < 1:
            raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
        if int(pool_size) < 1 or int(pool_size) % 2 == 0:
            raise ValueError(f"pool_size must be a positive odd integer, got {pool_size}")
        self.backbone = _build(backbone, DEFAULT_BACKBONE)
        if not getattr(self.backbone, "frozen", True):
            raise ValueError("PatchCore needs a frozen backbone (backbone.frozen=True): it is never trained")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.coreset_ratio = float(coreset_ratio)
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.num_neighbors = int(num_neighbors)
        self.coreset_seed = int(coreset_seed)
        self.pool = nn.AvgPool2d(int(pool_size), stride=1, padding=int(pool_size) // 2)
        self.anomaly_map = PatchCoreAnomalyMap(self.input_size, blur_sigma)
        self.memory_banks = MemoryBanks()
        self.thresholds: dict[str, dict[str, float]] = {}
        self._collected: dict[str, list[tuple[str, Tensor]]] = {}

    # ------------------------------------------------------------------ features
    def extract_embedding(self, inputs: Tensor) -> Tensor:
        """Locally aware patch features.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)`` with ``(H, W) == input_size``.

        Returns:
            ``(B, C, h, w)`` on the grid of the first (shallowest) tapped map; ``C = sum(out_channels)``.
        """
        if not torch.jit.is_tracing() and tuple(inputs.shape[-2:]) != self.input_size:
            raise ValueError(f"inputs are {tuple(inputs.shape[-2:])}, the model was built for {self.input_size}")
        with torch.no_grad():
            maps = [self.pool(m) for m in self.backbone(inputs)]
        size = maps[0].shape[-2:]
        maps = [maps[0]] + [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps[1:]]
        return torch.cat(maps, 1)

    # ------------------------------------------------------------------ fitting
    def train_step(self, data: dict | tuple | list, optim_wrapper: object = None) -> dict[str, Tensor]:
        """Collect the batch's patch features per class (no loss, no optimizer step).

        Returns:
            ``{'patches': number of patch features collected so far}`` for the log.
        """
        data = self.data_preprocessor(data, True)
        embedding = self.extract_embedding(data["inputs"])
        self.collect(embedding, data.get("data_samples"))
        total = sum(f.shape[0] for items in self._collected.values() for _, f in items)
        return {"patches": torch.tensor(float(total))}

    def collect(self, embedding: Tensor, data_samples: Sequence[AnomalyDataSample] | None) -> None:
        """Keep the ``(h * w, C)`` patch features of each image under its class (on the CPU).

        Args:
            embedding: ``(B, C, h, w)`` from :meth:`extract_embedding`.
            data_samples: The batch's samples (``cls_name``; ``img_path`` orders the features at fitting time).
        """
        feats = embedding.detach().permute(0, 2, 3, 1).flatten(1, 2).float().cpu()
        for i, f in enumerate(feats):
            sample = data_samples[i] if data_samples is not None else None
            cls_name = str(sample.cls_name) if sample is not None and "cls_name" in sample else DEFAULT_CLASS
            path = str(sample.img_path) if sample is not None and "img_path" in sample else ""
            self._collected.setdefault(cls_name, []).append((path, f.clone()))

    def reset_collection(self) -> None:
        """Forget the features collected so far."""
        self._collected = {}

    @property
    def has_pending_features(self) -> bool:
        """Whether features were collected and not yet turned into banks."""
        return bool(self._collected)

    def fit_memory_banks(self) -> dict[str, tuple[int, int]]:
        """Turn the collected features into one coreset bank per class (replacing all banks).

        In a distributed run every rank's features are gathered first, so all ranks build the same banks. The
        features of a class are ordered by image path, so the banks do not depend on the loader's order.

        Returns:
            ``{class: (patch features, bank size)}``.

        Raises:
            RuntimeError: Nothing was collected.
        """
        collected = self._collected
        if get_world_size() > 1:
            merged: dict[str, list[tuple[str, Tensor]]] = {}
            for part in all_gather_object(collected):
                for cls_name, items in part.items():
                    merged.setdefault(cls_name, []).extend(items)
            collected = merged
        if not collected:
            raise RuntimeError("PatchCore collected no training features: the training split is empty?")
        device = self.anomaly_map.kernel.device
        sizes = {}
        self.memory_banks.clear()
        for cls_name in sorted(collected):
            items = sorted(collected[cls_name], key=lambda item: item[0])
            feats = torch.cat([f for _, f in items]).to(device)
            start = time.perf_counter()
            idx = coreset_indices(feats, self.coreset_ratio, self.projection_dim, self.coreset_seed)
            self.memory_banks.set(cls_name, feats[idx])
            sizes[cls_name] = (feats.shape[0], int(idx.numel()))
            print_log(f"PatchCore {cls_name}: {len(items)} images, {feats.shape[0]} patch features -> coreset of "
                      f"{idx.numel()} ({time.perf_counter() - start:.1f} s)", logger="current")
        self._collected = {}
        return sizes

    # ------------------------------------------------------------------ scoring
    def _bank_for(self, cls_name: str | None) -> Tensor:
        classes = self.memory_banks.classes()
        if not classes:
            raise RuntimeError("PatchCore has no memory bank: fit it first (tools/train.py, one epoch over the "
                               "training split) or load a trained checkpoint")
        if cls_name is None:
            if len(classes) == 1:
                return self.memory_banks.get(classes[0])
            raise ValueError(f"PatchCore holds one memory bank per class ({classes}); a sample without cls_name "
                             "cannot be scored: give its class")
        if cls_name not in self.memory_banks:
            raise ValueError(f"unknown class {cls_name!r}: this PatchCore has memory banks for {classes}")
        return self.memory_banks.get(cls_name)

    def score(self, inputs: Tensor, cls_names: Sequence[str | None]) -> tuple[Tensor, Tensor]:
        """Anomaly maps and image scores, each image against the bank of its class.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)``.
            cls_names: One class per image (``None``: allowed only with a single bank).

        Returns:
            ``anomaly_map`` ``(B, 1, H, W)`` and ``pred_score`` ``(B,)``.
        """
        if self.has_pending_features:  # fitted outside the runner (no PatchCoreFitHook): build the banks now
            self.fit_memory_banks()
        if len(cls_names) != inputs.shape[0]:
            raise ValueError(f"{len(cls_names)} class names for {inputs.shape[0]} images")
        banks = [self._bank_for(c) for c in cls_names]  # refuse unknown classes before any work
        embedding = self.extract_embedding(inputs)
        b, c, h, w = embedding.shape
        patches = embedding.permute(0, 2, 3, 1).reshape(b, h * w, c)
        scores, grids = [], []
        for i, bank in enumerate(banks):
            dist, idx = nearest_neighbors(patches[i], bank.to(patches.dtype), k=1)
            dist, idx = dist[:, 0].unsqueeze(0), idx[:, 0].unsqueeze(0)
            scores.append(reweighted_image_score(dist, idx, patches[i : i + 1], bank, self.num_neighbors))
            grids.append(dist.reshape(1, 1, h, w))
        return self.anomaly_map(torch.cat(grids)), torch.cat(scores)

    def forward(
        self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None = None, mode: str = "tensor"
    ) -> tuple[Tensor, Tensor] | list[AnomalyDataSample]:
        """Dispatch on ``mode``.

        ``'tensor'`` -> ``(anomaly_map (B, 1, H, W), pred_score (B,))`` (classes from ``data_samples``, or the
        single bank); ``'predict'`` -> samples with predictions. PatchCore has no ``'loss'``: it is fitted by
        :meth:`train_step`.
        """
        if mode == "tensor":
            return self.score(inputs, self._classes_of(data_samples, inputs.shape[0]))
        if mode == "predict":
            return self.predict(inputs, data_samples)
        if mode == "loss":
            raise ValueError("PatchCore has no loss: it is fitted by train_step (one epoch of tools/train.py)")
        raise ValueError(f"unknown mode {mode!r}")

    @staticmethod
    def _classes_of(data_samples: Sequence[AnomalyDataSample] | None, batch: int) -> list[str | None]:
        if data_samples is None:
            return [None] * batch
        return [str(s.cls_name) if "cls_name" in s else None for s in data_samples]

    def predict(self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None = None) -> list[AnomalyDataSample]:
        """Predict maps and scores; add decisions where class thresholds are known (as UniAD).

        Returns:
            Samples with ``pred_score`` (scalar), ``anomaly_map`` ``(H, W)`` and, if ``thresholds`` has the
            sample's ``cls_name``, ``pred_label`` (long scalar) and ``pred_mask`` ``(H, W)`` uint8, all on CPU.

        Raises:
            ValueError: A sample's class has no memory bank (the message names it and the known classes).
        """
        anomaly_map, score = self.score(inputs, self._classes_of(data_samples, inputs.shape[0]))
        anomaly_map, score = anomaly_map.detach().float().cpu(), score.detach().float().cpu()
        if data_samples is None:
            data_samples = [AnomalyDataSample() for _ in range(inputs.shape[0])]
        for sample, amap, s in zip(data_samples, anomaly_map[:, 0], score):
            sample.pred_score = s
            sample.anomaly_map = amap
            thr = self.thresholds.get(sample.cls_name) if "cls_name" in sample else None
            if thr:
                sample.pred_label = (s >= thr["image"]).long()
                sample.pred_mask = (amap >= thr["pixel"]).to(torch.uint8)
        return data_samples
