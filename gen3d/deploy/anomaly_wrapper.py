"""Export modules around UniAD: preprocessing, the tensor path and post-processing in one graph.

``end2end`` (:class:`AnomalyEnd2End`)::

    image uint8 (N, H, W, 3) RGB ─┐  cast to float (first: TensorRT takes uint8 only into a Cast) -> NCHW ->
    class_index int64 (N,)        │  bilinear resize to the model size (antialias off; only when (H, W) differs) ->
                                  │  (x - mean) / std as a depthwise 1x1 Conv -> UniAD tensor path
    image_threshold f32 (C,)      │  -> raw map (N, 1, h, w), raw score (N,)
    pixel_threshold f32 (C,)     ─┘  -> map resized back to (H, W) -> per-class thresholds by class_index

    pred_score    f32 (N,)       clip(score / (2 * image_threshold[class_index]), 0, 1)
    pred_label    uint8 (N,)     score >= image_threshold[class_index]            (raw score, exact)
    anomaly_map   f32 (N, H, W)  clip(map / (2 * pixel_threshold[class_index]), 0, 1)
    pred_mask     uint8 (N, H, W) map >= pixel_threshold[class_index]
    raw_score     f32 (N,)       the unnormalised image score (for logging / re-thresholding)

The normalisation is monotone and maps each class's threshold to 0.5 (UniAD distances are >= 0 and thresholds
positive), so a line may also threshold the normalised outputs at 0.5. ``raw`` (:class:`AnomalyRaw`) exports
the tensor path only: preprocessed float32 ``(N, 3, h, w)`` -> ``anomaly_map (N, 1, h, w)``, ``pred_score (N,)``.

The neighbour mask of UniAD is ``-inf`` on the hidden window; :func:`export_copy` replaces it with
:data:`MASK_FILL` (finite, FP16-safe: ``exp(-1e4)`` is exactly 0 in fp32 and fp16, and ``-1e4 + score`` cannot
overflow FP16), so FP16 TensorRT engines never see ``-inf - -inf = NaN`` in Softmax.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

MASK_FILL = -1.0e4
"""Finite value replacing ``-inf`` in additive attention masks of the exported copy."""

END2END_INPUTS = ("image", "class_index", "image_threshold", "pixel_threshold")
END2END_OUTPUTS = ("pred_score", "pred_label", "anomaly_map", "pred_mask", "raw_score")
RAW_INPUTS = ("input",)
RAW_OUTPUTS = ("anomaly_map", "pred_score")

SCORE_MEANING = "clip(raw_score / (2 * image_threshold[class_index]), 0, 1); 0.5 = the class's image threshold"
MAP_MEANING = "clip(raw_map / (2 * pixel_threshold[class_index]), 0, 1) at input size; 0.5 = the pixel threshold"


def export_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every ``-inf`` in float buffers replaced by :data:`MASK_FILL`.

    Args:
        model: A UniAD (or any model whose attention masks are float buffers).

    Returns:
        The copy; the original is not modified.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        for name, buf in list(module._buffers.items()):
            if buf is not None and buf.is_floating_point() and bool(torch.isneginf(buf).any()):
                module._buffers[name] = buf.masked_fill(torch.isneginf(buf), MASK_FILL)
    return model


def normalization_of(model: nn.Module) -> tuple[list[float], list[float]]:
    """Mean and std (0-255 scale, RGB order) of the model's data preprocessor."""
    pre = getattr(model, "data_preprocessor", None)
    if pre is None or not getattr(pre, "_enable_normalize", False):
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    if getattr(pre, "_channel_conversion", False):
        raise ValueError("the model's preprocessor swaps channels (bgr_to_rgb); the deploy graph expects RGB")
    return pre.mean.flatten().tolist(), pre.std.flatten().tolist()


class AnomalyRaw(nn.Module):
    """Tensor path only: preprocessed images to raw map and score.

    Args:
        model: UniAD (``model(x, mode='tensor')``); an :func:`export_copy` is taken.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = export_copy(model)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Run.

        Args:
            inputs: Preprocessed float images ``(N, 3, h, w)``.

        Returns:
            ``anomaly_map`` ``(N, 1, h, w)`` and ``pred_score`` ``(N,)``.
        """
        return self.model(inputs, mode="tensor")


class AnomalyEnd2End(nn.Module):
    """uint8 RGB frames in, normalised scores, labels, maps and masks out (see the module docstring).

    Args:
        model: UniAD with ``input_size`` and ``thresholds`` (``{cls: {'image': t, 'pixel': t}}``).
        classes: Class order of ``class_index`` and of the threshold vectors.
        image_size: ``(H, W)`` of the ``image`` input; defaults to the model's input size.
    """

    def __init__(self, model: nn.Module, classes: Sequence[str], image_size: Sequence[int] | None = None) -> None:
        super().__init__()
        self.model = export_copy(model)
        self.model_size = tuple(int(s) for s in model.input_size)
        self.image_size = tuple(int(s) for s in image_size) if image_size else self.model_size
        mean, std = (torch.tensor(v, dtype=torch.float64) for v in normalization_of(model))
        # (x - mean) / std as a depthwise 1x1 conv (x * (1/std) + (-mean/std)): one NCHW kernel, where ONNX
        # Runtime would otherwise move Sub and Mul to NHWC and broadcast over the 3-wide last axis (~1 ms at 224).
        self.register_buffer("norm_weight", (1.0 / std).float().view(3, 1, 1, 1))
        self.register_buffer("norm_bias", (-mean / std).float())
        self.classes = list(classes)

    def default_thresholds(self, thresholds: dict[str, dict[str, float]]) -> tuple[Tensor, Tensor]:
        """Image and pixel threshold vectors ``(C,)`` in :attr:`classes` order."""
        missing = [c for c in self.classes if c not in thresholds]
        if missing:
            raise ValueError(f"no thresholds for classes {missing}; the checkpoint has {sorted(thresholds)}")
        image = torch.tensor([float(thresholds[c]["image"]) for c in self.classes], dtype=torch.float32)
        pixel = torch.tensor([float(thresholds[c]["pixel"]) for c in self.classes], dtype=torch.float32)
        if bool((image <= 0).any()) or bool((pixel <= 0).any()):
            raise ValueError("thresholds must be positive for the x / (2 * t) normalisation")
        return image, pixel

    def preprocess(self, image: Tensor) -> Tensor:
        """``(N, H, W, 3)`` uint8 -> normalised float ``(N, 3, h, w)`` at the model size."""
        x = image.float().permute(0, 3, 1, 2)  # cast first: TensorRT takes uint8 only as a Cast input
        if self.image_size != self.model_size:
            x = F.interpolate(x, size=self.model_size, mode="bilinear", align_corners=False, antialias=False)
        return F.conv2d(x, self.norm_weight, self.norm_bias, groups=3)

    def forward(
        self, image: Tensor, class_index: Tensor, image_threshold: Tensor, pixel_threshold: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Run pre-processing, model and post-processing.

        Args:
            image: uint8 RGB ``(N, H, W, 3)``.
            class_index: int64 ``(N,)`` into :attr:`classes`.
            image_threshold: float32 ``(C,)``.
            pixel_threshold: float32 ``(C,)``.

        Returns:
            ``pred_score`` ``(N,)``, ``pred_label`` uint8 ``(N,)``, ``anomaly_map`` ``(N, H, W)``,
            ``pred_mask`` uint8 ``(N, H, W)``, ``raw_score`` ``(N,)``.
        """
        amap, score = self.model(self.preprocess(image), mode="tensor")
        if self.image_size != self.model_size:
            amap = F.interpolate(amap, size=self.image_size, mode="bilinear", align_corners=False, antialias=False)
        amap = amap[:, 0]
        img_thr = image_threshold.index_select(0, class_index)  # (N,)
        pix_thr = pixel_threshold.index_select(0, class_index)[:, None, None]  # (N, 1, 1)
        pred_score = (score / (2.0 * img_thr)).clamp(0.0, 1.0)
        pred_label = (score >= img_thr).to(torch.uint8)
        anomaly_map = (amap / (2.0 * pix_thr)).clamp(0.0, 1.0)
        pred_mask = (amap >= pix_thr).to(torch.uint8)
        return pred_score, pred_label, anomaly_map, pred_mask, score


def reference_outputs(
    model: nn.Module, image: Tensor, class_index: Tensor, image_threshold: Tensor, pixel_threshold: Tensor,
    image_size: Sequence[int] | None = None,
) -> dict[str, Tensor]:
    """What the end2end graph must compute, through the unmodified model (``-inf`` mask, ``mode='tensor'``).

    Args:
        model: The trained UniAD.
        image: uint8 ``(N, H, W, 3)``.
        class_index: ``(N,)``.
        image_threshold: ``(C,)``.
        pixel_threshold: ``(C,)``.
        image_size: ``(H, W)`` of ``image`` (default: the model size).

    Returns:
        ``{name: tensor}`` for :data:`END2END_OUTPUTS`.
    """
    size = tuple(int(s) for s in model.input_size)
    mean, std = normalization_of(model)
    x = image.permute(0, 3, 1, 2).float()
    if image_size and tuple(image_size) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        amap, score = model.eval()(x, mode="tensor")
    if image_size and tuple(image_size) != size:
        amap = F.interpolate(amap, size=tuple(image_size), mode="bilinear", align_corners=False)
    amap = amap[:, 0]
    it, pt = image_threshold[class_index], pixel_threshold[class_index][:, None, None]
    return dict(pred_score=(score / (2 * it)).clamp(0, 1), pred_label=(score >= it).to(torch.uint8),
                anomaly_map=(amap / (2 * pt)).clamp(0, 1), pred_mask=(amap >= pt).to(torch.uint8), raw_score=score)
