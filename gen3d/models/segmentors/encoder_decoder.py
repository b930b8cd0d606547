"""Encoder-decoder semantic segmentor (DeepLabV3+, arXiv 1802.02611; U2PL's supervised branch, arXiv 2203.03884).

``images -> backbone (low, high) -> decode head -> logits at stride 4 -> bilinear upsampling to the input``.
Training: pixel-wise cross-entropy at the input (crop) size with ignore index 255 (U2PL VOC), or U2PL's OHEM
cross-entropy (Cityscapes: keep pixels whose ground-truth probability is below 0.7, at least 100 000 of them).
Inference: whole image, or sliding windows whose overlapping logits are averaged (MMSeg's ``slide_inference``;
U2PL's Cityscapes protocol: crop 769, stride 513).

Optional auxiliary head (MMSeg's ``auxiliary_head``; U2PL Cityscapes: FCN head on layer 3, weight 0.4): its loss,
``loss_weight x`` the same criterion on its upsampled logits, is added in training only (``loss_aux``).

The tensor path (``mode='tensor'``) is the export path: normalised ``(B, 3, H, W)`` -> logits ``(B, C, H, W)``; it
never runs the auxiliary head.
Semi-supervised wrappers (U2PL, FST) call :meth:`EncoderDecoder.extract_logits_and_repr` on a student and an
EMA teacher.
"""

from typing import NamedTuple

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

from .aux_head import AUX_IN_INDEX

IGNORE_INDEX = 255
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
# U2PL Cityscapes criterion `ohem`: thresh 0.7, min_kept 100000 (experiments/cityscapes/*/config.yaml).
OHEM_THRESH = 0.7
OHEM_MIN_KEPT = 100_000
DEFAULT_BACKBONE = dict(type="TimmSegBackbone", model_name="resnet101s", output_stride=16)
DEFAULT_HEAD = dict(type="DeepLabV3PlusHead", num_classes=21)


class SegTrainOutputs(NamedTuple):
    """Outputs of one training forward pass (:meth:`EncoderDecoder.extract_train_outputs`)."""

    logits: Tensor  #: ``(B, C, ~H/4, ~W/4)``
    repr: Tensor | None  #: ``(B, D, ~H/4, ~W/4)`` or ``None`` without a representation head
    aux: Tensor | None  #: ``(B, C, h, w)`` at the auxiliary tap's stride, or ``None`` without an auxiliary head


def _build(cfg: dict | nn.Module, **defaults) -> nn.Module:
    """Build a sub-module from a config (``defaults`` fill missing keys) or pass a module through."""
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    for key, value in defaults.items():
        cfg.setdefault(key, value)
    return MODELS.build(cfg)


def ohem_cross_entropy(
    logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX, thresh: float = OHEM_THRESH,
    min_kept: int = OHEM_MIN_KEPT,
) -> Tensor:
    """Online hard example mining cross-entropy (U2PL ``ProbOhemCrossEntropy2d``).

    Keeps the valid pixels whose ground-truth probability is at most ``max(thresh, p_k)``, ``p_k`` being the
    ``min_kept``-th smallest such probability, and averages their cross-entropy.

    Args:
        logits: ``(B, C, H, W)``.
        target: ``(B, H, W)`` long, ``ignore_index`` for unlabeled pixels.
        ignore_index: Label to ignore.
        thresh: Probability threshold.
        min_kept: Minimum number of pixels kept (all valid pixels if fewer).

    Returns:
        Scalar loss (0 with a gradient when no pixel is valid).
    """
    ce = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    valid = target != ignore_index
    if not valid.any():
        return logits.sum() * 0.0
    with torch.no_grad():
        prob = logits.softmax(dim=1).gather(1, target.clamp(max=logits.shape[1] - 1).unsqueeze(1)).squeeze(1)
        valid_prob = prob[valid]
        k = min(int(valid_prob.numel()), int(min_kept))
        threshold = max(thresh, valid_prob.kthvalue(k).values.item()) if k > 0 else thresh
        keep = valid & (prob <= threshold)
    return ce[keep].mean()


def _gt_map(sample: BaseDataElement) -> Tensor:
    """``gt_sem_seg`` of a sample as an ``(H, W)`` long tensor (also accepts MMSeg's PixelData ``(1, H, W)``)."""
    gt = sample.gt_sem_seg
    gt = getattr(gt, "data", gt)
    return gt.squeeze(0).long() if gt.dim() == 3 else gt.long()


def _new_sample() -> BaseDataElement:
    try:
        from gen3d.structures import SegDataSample
    except ImportError:  # pragma: no cover - the structure lands with the segmentation datasets
        return BaseDataElement()
    return SegDataSample()


@MODELS.register_module()
class EncoderDecoder(BaseModel):
    """Backbone + decode head segmentor.

    Args:
        backbone: Config or module returning ``[low, ..., high]`` and exposing ``out_channels`` / ``out_strides``
            (default ``TimmSegBackbone`` on ``resnet101s`` at output stride 16, random init). The decode head uses
            the first and the last tap; middle taps feed ``auxiliary_head``.
        decode_head: Config or module (default ``DeepLabV3PlusHead``, 21 classes); ``in_channels``,
            ``output_stride`` and ``align_corners`` are filled in when missing.
        auxiliary_head: ``None`` or a config / module such as ``FCNAuxHead`` (``in_channels`` from the backbone tap
            ``in_index`` and ``num_classes`` are filled in); training adds ``loss_aux = loss_weight x`` the
            supervised criterion on its logits. Inference and export ignore it.
        ignore_index: Label ignored by the loss (and by the metric).
        ohem: ``None`` for plain cross-entropy (U2PL VOC) or ``dict(thresh=0.7, min_kept=100000)`` for OHEM
            (U2PL Cityscapes); ``min_kept`` counts pixels over the whole batch.
        align_corners: Bilinear ``align_corners`` of every upsampling (U2PL: True).
        train_cfg: Unused, kept for MMSeg-style configs.
        test_cfg: ``dict(mode='whole')`` or ``dict(mode='slide', crop_size=(h, w), stride=(sh, sw))``.
        data_preprocessor: Config or module; default ``ImgDataPreprocessor`` with ImageNet mean/std (0-255
            scale). Crops and padding come from the dataset pipeline.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        backbone: dict | nn.Module = DEFAULT_BACKBONE,
        decode_head: dict | nn.Module = DEFAULT_HEAD,
        auxiliary_head: dict | nn.Module | None = None,
        ignore_index: int = IGNORE_INDEX,
        ohem: dict | None = None,
        align_corners: bool = False,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type="ImgDataPreprocessor", mean=IMAGENET_MEAN, std=IMAGENET_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = _build(backbone)
        self.decode_head = _build(
            decode_head, in_channels=[self.backbone.out_channels[0], self.backbone.out_channels[-1]],
            output_stride=self.backbone.out_strides[-1], align_corners=align_corners,
        )
        self.num_classes = self.decode_head.num_classes
        self.auxiliary_head = auxiliary_head if isinstance(auxiliary_head, nn.Module) else None
        if isinstance(auxiliary_head, dict):
            in_index, taps = auxiliary_head.get("in_index", AUX_IN_INDEX), len(self.backbone.out_channels)
            if not -taps <= in_index < taps:
                raise ValueError(f"auxiliary_head in_index {in_index} but the backbone has {taps} taps "
                                 "(add the stage to its out_indices, e.g. (1, 3, 4))")
            self.auxiliary_head = _build(auxiliary_head, in_channels=self.backbone.out_channels[in_index],
                                         num_classes=self.num_classes)
        self.ignore_index = ignore_index
        self.ohem = {"thresh": OHEM_THRESH, "min_kept": OHEM_MIN_KEPT, **ohem} if ohem is not None else None
        self.align_corners = align_corners
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(test_cfg or dict(mode="whole"))
        if self.test_cfg.get("mode", "whole") not in ("whole", "slide"):
            raise ValueError(f"test_cfg mode must be 'whole' or 'slide', got {self.test_cfg}")

    # ------------------------------------------------------------------ tensor path
    def _resize(self, x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners)

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        """Backbone features ``[low (B, C_low, ~H/4, ~W/4), high (B, C_high, ~H/os, ~W/os)]``."""
        return self.backbone(inputs)

    def extract_logits_and_repr(self, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
        """Stride-4 outputs for semi-supervised methods (U2PL's ``{'pred', 'rep'}``).

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.

        Returns:
            ``logits (B, C, ~H/4, ~W/4)`` and ``repr (B, D, ~H/4, ~W/4)`` (``None`` without a representation head).
        """
        return self.decode_head.forward_with_repr(self.extract_feat(inputs))

    def extract_train_outputs(self, inputs: Tensor) -> SegTrainOutputs:
        """Logits, representations and auxiliary logits from one backbone pass (training).

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.

        Returns:
            :class:`SegTrainOutputs` (``aux`` is ``None`` without an auxiliary head).
        """
        feats = self.extract_feat(inputs)
        logits, rep = self.decode_head.forward_with_repr(feats)
        aux = self.auxiliary_head(feats) if self.auxiliary_head is not None else None
        return SegTrainOutputs(logits, rep, aux)

    def _forward(self, inputs: Tensor, data_samples: list | None = None) -> Tensor:
        """Export path: logits at the input size.

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: Ignored.

        Returns:
            ``(B, num_classes, H, W)``.
        """
        return self._resize(self.decode_head(self.extract_feat(inputs)), inputs.shape[-2:])

    def forward(
        self, inputs: Tensor, data_samples: list[BaseDataElement] | None = None, mode: str = "tensor"
    ) -> Tensor | dict[str, Tensor] | list[BaseDataElement]:
        """Dispatch on ``mode``.

        ``'tensor'`` -> logits ``(B, C, H, W)``; ``'loss'`` -> ``{'loss_ce', 'acc_seg'}``; ``'predict'`` -> samples
        with ``seg_logits (C, H0, W0)`` and ``pred_sem_seg (H0, W0)``.

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: One segmentation sample per image (required for ``'loss'``).
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
    def stack_gt(self, data_samples: list[BaseDataElement], size: tuple[int, int] | torch.Size) -> Tensor:
        """Stack the ground truths, padded with ``ignore_index`` to ``size`` (batch padding of the inputs).

        Returns:
            ``(B, H, W)`` long.
        """
        maps = []
        for sample in data_samples:
            gt = _gt_map(sample)
            pad_h, pad_w = size[0] - gt.shape[0], size[1] - gt.shape[1]
            if pad_h < 0 or pad_w < 0:
                raise ValueError(f"ground truth {tuple(gt.shape)} is larger than the inputs {tuple(size)}")
            maps.append(F.pad(gt, (0, pad_w, 0, pad_h), value=self.ignore_index))
        return torch.stack(maps)

    def seg_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy (or OHEM cross-entropy) after upsampling the logits to the label size.

        Args:
            logits: ``(B, C, h, w)`` at any stride.
            target: ``(B, H, W)`` long, ``ignore_index`` for unlabeled pixels.

        Returns:
            Scalar loss.
        """
        logits = self._resize(logits, target.shape[-2:])
        if self.ohem is not None:
            return ohem_cross_entropy(logits, target, self.ignore_index, **self.ohem)
        if not (target != self.ignore_index).any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index)

    def aux_loss(self, aux_logits: Tensor, target: Tensor) -> Tensor:
        """``auxiliary_head.loss_weight x`` :meth:`seg_loss` of the auxiliary logits (U2PL ``loss_helper.py``).

        Args:
            aux_logits: ``(B, C, h, w)`` from the auxiliary head.
            target: ``(B, H, W)`` long.

        Returns:
            Weighted scalar loss.
        """
        if self.auxiliary_head is None:
            raise RuntimeError("aux_loss needs an auxiliary_head")
        return self.auxiliary_head.loss_weight * self.seg_loss(aux_logits, target)

    def loss(self, inputs: Tensor, data_samples: list[BaseDataElement]) -> dict[str, Tensor]:
        """Supervised loss.

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: Samples with ``gt_sem_seg`` ``(H, W)`` long (255 = ignore).

        Returns:
            ``{'loss_ce': scalar, 'acc_seg': pixel accuracy in % (no gradient)}``, plus the weighted ``loss_aux``
            when there is an auxiliary head.
        """
        target = self.stack_gt(data_samples, inputs.shape[-2:]).to(inputs.device)
        feats = self.extract_feat(inputs)
        logits = self.decode_head(feats)
        loss = self.seg_loss(logits, target)
        with torch.no_grad():
            valid = target != self.ignore_index
            pred = self._resize(logits, target.shape[-2:]).argmax(dim=1)
            acc = (pred[valid] == target[valid]).float().mean() * 100 if valid.any() else loss.new_zeros(())
        losses = {"loss_ce": loss, "acc_seg": acc}
        if self.auxiliary_head is not None:
            losses["loss_aux"] = self.aux_loss(self.auxiliary_head(feats), target)
        return losses

    # ------------------------------------------------------------------ inference
    def slide_inference(self, inputs: Tensor) -> Tensor:
        """Average the logits of overlapping crops (zero-padding images smaller than a crop).

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.

        Returns:
            ``(B, num_classes, H, W)``.
        """
        h_crop, w_crop = self.test_cfg["crop_size"]
        h_stride, w_stride = self.test_cfg["stride"]
        if h_stride > h_crop or w_stride > w_crop:
            raise ValueError(f"slide stride {(h_stride, w_stride)} leaves gaps with crop {(h_crop, w_crop)}")
        batch, _, height, width = inputs.shape
        x = F.pad(inputs, (0, max(w_crop - width, 0), 0, max(h_crop - height, 0)))
        pad_h, pad_w = x.shape[-2:]
        h_grids = max(pad_h - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(pad_w - w_crop + w_stride - 1, 0) // w_stride + 1
        logits = x.new_zeros((batch, self.num_classes, pad_h, pad_w))
        count = x.new_zeros((1, 1, pad_h, pad_w))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y2, x2 = min(h_idx * h_stride + h_crop, pad_h), min(w_idx * w_stride + w_crop, pad_w)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)  # the last window is border-aligned
                logits[:, :, y1:y2, x1:x2] += self._forward(x[:, :, y1:y2, x1:x2])
                count[:, :, y1:y2, x1:x2] += 1
        return (logits / count)[:, :, :height, :width]

    def inference(self, inputs: Tensor) -> Tensor:
        """Whole-image or sliding-window logits ``(B, num_classes, H, W)`` at the input size."""
        if self.test_cfg.get("mode", "whole") == "slide":
            return self.slide_inference(inputs)
        return self._forward(inputs)

    def predict(
        self, inputs: Tensor, data_samples: list[BaseDataElement] | None = None
    ) -> list[BaseDataElement]:
        """Predict label maps at the original image size.

        Batch padding is cropped using ``img_shape``; when ``ori_shape`` differs (the pipeline resized the
        image), the logits are resized back to it.

        Args:
            inputs: Normalised images ``(B, 3, H, W)``.
            data_samples: Samples to fill (new ones are created when ``None``).

        Returns:
            Samples with ``seg_logits`` ``(C, H0, W0)`` float and ``pred_sem_seg`` ``(H0, W0)`` long, on CPU.
        """
        logits = self.inference(inputs)
        if data_samples is None:
            data_samples = [_new_sample() for _ in range(inputs.shape[0])]
        for sample, logit in zip(data_samples, logits):
            img_h, img_w = sample.metainfo.get("img_shape", logit.shape[-2:])[:2]
            logit = logit[:, :img_h, :img_w]
            ori_shape = tuple(sample.metainfo.get("ori_shape", (img_h, img_w))[:2])
            if ori_shape != (img_h, img_w):
                logit = self._resize(logit[None], ori_shape)[0]
            logit = logit.detach().float().cpu()
            sample.seg_logits = logit
            sample.pred_sem_seg = logit.argmax(dim=0)
        return data_samples
