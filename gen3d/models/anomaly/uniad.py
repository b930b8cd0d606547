"""UniAD: one reconstruction model for all product classes (You et al., NeurIPS 2022, arXiv 2206.03687).

``images -> frozen backbone -> stage maps aligned to stride 16 and concatenated -> UniAD reconstruction ->
per-location L2 error -> upsampled anomaly map -> image score``. Training minimises the MSE between the
reconstructed and the (clean) aligned features (official ``FeatureMSELoss``, weight 1).

The tensor path (``mode='tensor'``) is what deployment exports: it takes a preprocessed batch and returns
``(anomaly_map, pred_score)`` with no Python branch on data. Because the backbone is frozen and the recipe has
no augmentation, training can put a :mod:`~gen3d.models.anomaly.feature_cache` in front of
:meth:`UniAD.extract_features`.
"""

import hashlib
from collections.abc import Sequence

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS
from gen3d.structures import AnomalyDataSample

from .anomaly_map import SCORE_POOL_SIZE, ReconstructionAnomalyMap
from .feature_cache import FeatureCache, build_feature_cache

# UniAD official MVTec config: 224x224 input, ImageNet normalisation, EfficientNet-B4 blocks 1/5/9/21.
INPUT_SIZE = (224, 224)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
DEFAULT_BACKBONE = dict(type="TimmFeatureExtractor", model_name="efficientnet_b4", out_blocks=(1, 5, 9, 21))
DEFAULT_NECK = dict(type="FeatureAligner", out_stride=16)
DEFAULT_RECONSTRUCTION = dict(type="UniADReconstruction")


def _build(cfg: dict | nn.Module, default_type: str, **defaults) -> nn.Module:
    """Build a sub-module from a config (``type`` and ``defaults`` fill missing keys) or pass a module through."""
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    cfg.setdefault("type", default_type)
    for key, value in defaults.items():
        cfg.setdefault(key, value)
    return MODELS.build(cfg)


@MODELS.register_module()
class UniAD(BaseModel):
    """UniAD anomaly detector.

    Args:
        backbone: Config or module of a frozen feature extractor exposing ``out_channels`` and ``out_strides``
            (default: ``TimmFeatureExtractor`` on ``efficientnet_b4``, blocks 1/5/9/21, no pretrained weights;
            set ``pretrained='hub'`` or a file for the paper setting).
        neck: Config or module aligning the maps; ``in_channels`` / ``in_strides`` are filled from the backbone.
        reconstruction: Config or module; ``in_channels`` and ``grid_size`` are filled from the neck and
            ``input_size``.
        input_size: ``(H, W)`` of the preprocessed inputs; fixes the token grid ``ceil(H / 16) x ceil(W / 16)``.
        score_pool_size: Averaging window of the image score.
        data_preprocessor: Config of the data preprocessor; default ``ImgDataPreprocessor`` with ImageNet
            mean/std on the 0-255 scale (use mean = std = 127.5 for ``tf_efficientnet_lite0``).
        feature_cache: ``None``, ``dict(type='memory', max_items=..., max_bytes=..., eviction='none'|'lru')`` or
            ``dict(type='disk', cache_dir=..., max_bytes=...)``; used in training only, for samples that carry
            ``img_path``.
        init_cfg: mmengine init config.

    Attributes:
        thresholds: ``{cls_name: {'image': t, 'pixel': t}}``, set by the integrator (empty by default); when a
            sample's class is present, ``predict`` adds ``pred_label`` and ``pred_mask``.
    """

    def __init__(
        self,
        backbone: dict | nn.Module = DEFAULT_BACKBONE,
        neck: dict | nn.Module = DEFAULT_NECK,
        reconstruction: dict | nn.Module = DEFAULT_RECONSTRUCTION,
        input_size: Sequence[int] = INPUT_SIZE,
        score_pool_size: int = SCORE_POOL_SIZE,
        data_preprocessor: dict | nn.Module | None = None,
        feature_cache: dict | FeatureCache | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type="ImgDataPreprocessor", mean=IMAGENET_MEAN, std=IMAGENET_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.backbone = _build(backbone, DEFAULT_BACKBONE["type"])
        self.neck = _build(
            neck, DEFAULT_NECK["type"], in_channels=self.backbone.out_channels, in_strides=self.backbone.out_strides
        )
        stride = self.neck.out_stride
        self.grid_size = (-(-self.input_size[0] // stride), -(-self.input_size[1] // stride))
        self.reconstruction = _build(
            reconstruction, DEFAULT_RECONSTRUCTION["type"], in_channels=self.neck.out_channels, grid_size=self.grid_size
        )
        self.anomaly_map = ReconstructionAnomalyMap(self.input_size, score_pool_size)
        self.feature_cache = build_feature_cache(feature_cache)
        if self.feature_cache is not None and not getattr(self.backbone, "frozen", False):
            raise ValueError("feature_cache needs a frozen backbone")
        self.thresholds: dict[str, dict[str, float]] = {}
        self._cache_signature: str | None = None

    # ------------------------------------------------------------------ tensor path
    def extract_features(self, inputs: Tensor) -> Tensor:
        """Frozen backbone + neck.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)`` with ``(H, W) == input_size``.

        Returns:
            Aligned features ``(B, C, h, w)`` on the token grid.
        """
        if not torch.jit.is_tracing() and tuple(inputs.shape[-2:]) != self.input_size:
            raise ValueError(f"inputs are {tuple(inputs.shape[-2:])}, the model was built for {self.input_size}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not getattr(self.backbone, "frozen", False)):
            return self.neck(self.backbone(inputs))

    def _forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Export path.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)``.

        Returns:
            ``anomaly_map`` ``(B, 1, H, W)`` and ``pred_score`` ``(B,)``.
        """
        features = self.extract_features(inputs)
        return self.anomaly_map(features, self.reconstruction(features))

    def forward(
        self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None = None, mode: str = "tensor"
    ) -> tuple[Tensor, Tensor] | dict[str, Tensor] | list[AnomalyDataSample]:
        """Dispatch on ``mode``.

        ``'tensor'`` -> ``(anomaly_map (B, 1, H, W), pred_score (B,))``; ``'loss'`` -> ``{'loss': mse}``;
        ``'predict'`` -> data samples with predictions.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)``.
            data_samples: One :class:`AnomalyDataSample` per image (optional for ``'tensor'`` and ``'predict'``).
            mode: ``'tensor'``, ``'loss'`` or ``'predict'``.
        """
        if mode == "tensor":
            return self._forward(inputs)
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        raise ValueError(f"unknown mode {mode!r}")

    # ------------------------------------------------------------------ training glue
    def loss(self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None = None) -> dict[str, Tensor]:
        """Feature reconstruction MSE (jitter is applied inside the reconstruction in training mode).

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)``.
            data_samples: Samples; with ``img_path`` set they can use the feature cache.

        Returns:
            ``{'loss': scalar}``.
        """
        features = self._training_features(inputs, data_samples)
        return {"loss": F.mse_loss(self.reconstruction(features), features)}

    def _signature(self) -> str:
        """Backbone identity for cache keys: name, taps, stride, input size and a hash of the weights."""
        if self._cache_signature is None:
            digest = hashlib.sha1()
            for tensor in self.backbone.state_dict().values():
                digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            name = getattr(self.backbone, "model_name", type(self.backbone).__name__)
            blocks = getattr(self.backbone, "out_blocks", "")
            self._cache_signature = (
                f"{name}|{blocks}|s{self.neck.out_stride}|{self.input_size[0]}x{self.input_size[1]}|"
                f"{digest.hexdigest()[:16]}"
            )
        return self._cache_signature

    def _training_features(self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None) -> Tensor:
        """Features for the loss, read from / written to the cache when possible."""
        use_cache = (
            self.feature_cache is not None
            and self.training
            and data_samples is not None
            and len(data_samples) == inputs.shape[0]
            and all("img_path" in s for s in data_samples)
        )
        if not use_cache:
            return self.extract_features(inputs)
        keys = [f"{self._signature()}|{s.img_path}" for s in data_samples]
        found = [self.feature_cache.get(k) for k in keys]
        missing = [i for i, f in enumerate(found) if f is None]
        if missing:
            fresh = self.extract_features(inputs[missing]).detach()
            for i, feat in zip(missing, fresh):
                self.feature_cache.put(keys[i], feat)
                found[i] = feat
        return torch.stack([f.to(inputs.device) for f in found])

    def predict(self, inputs: Tensor, data_samples: list[AnomalyDataSample] | None = None) -> list[AnomalyDataSample]:
        """Predict maps and scores; add decisions where class thresholds are known.

        Args:
            inputs: Preprocessed images ``(B, 3, H, W)``.
            data_samples: Samples to fill (new ones are created when ``None``).

        Returns:
            Samples with ``pred_score`` (scalar), ``anomaly_map`` ``(H, W)`` and, if ``thresholds`` has the
            sample's ``cls_name``, ``pred_label`` (long scalar) and ``pred_mask`` ``(H, W)`` uint8, all on CPU.
        """
        anomaly_map, score = self._forward(inputs)
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
