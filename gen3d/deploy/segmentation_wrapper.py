"""Export modules around a segmentor (``EncoderDecoder``): preprocessing, the tensor path and the argmax in one graph.

``end2end`` (:class:`SegmentationEnd2End`)::

    image uint8 (N, H, W, 3) RGB -> cast to float (first: TensorRT takes uint8 only into a Cast) -> NCHW ->
    (x - mean) / std as a depthwise 1x1 Conv -> EncoderDecoder tensor path -> logits (N, C, H, W) at input size

    output='logits'      seg_logits  float32 (N, C, H, W)   raw class scores (pre-softmax)
    output='label_map'   label_map   uint8   (N, H, W)      argmax over C of the logits (ties: the lowest class id)

The label map is **uint8** (class ids ``0 .. C-1``; ``C <= 256`` is checked): 8x smaller than int64 on the wire,
the dtype the anomaly masks already use, and TensorRT 8.6 has no int64 outputs. The graph does not resize: feed
frames at the graph's ``(H, W)`` (manifest ``inputs[0].shape``). ``raw`` (:class:`SegmentationRaw`) exports the
tensor path only: preprocessed float32 ``(N, 3, H, W)`` -> ``seg_logits (N, C, H, W)``.

For a teacher-student checkpoint (``TeacherStudentSegmentor`` subclasses such as U2PL / MeanTeacher, or ``FST``
around one), :func:`segmentor_of` returns the **student** ``EncoderDecoder``: that is the network exported.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .anomaly_wrapper import normalization_of

END2END_INPUTS = ("image",)
RAW_INPUTS = ("input",)
LOGITS_OUTPUTS = ("seg_logits",)
LABEL_OUTPUTS = ("label_map",)
OUTPUT_KINDS = ("logits", "label_map")

LOGITS_MEANING = "raw class scores (pre-softmax) of every pixel at the input size, class axis 1"
LABEL_MEANING = "class id (index into model.classes) of every pixel: argmax of the logits over classes"


def segmentor_of(model: nn.Module) -> tuple[nn.Module, str]:
    """The network to export and its role.

    Args:
        model: An ``EncoderDecoder``, a teacher-student method (``.student`` and ``.teacher``) or ``FST``.

    Returns:
        ``(segmentor, 'student')`` for a teacher-student / FST model, else ``(model, 'model')``.

    Raises:
        TypeError: The network has no ``decode_head`` (not a segmentor).
    """
    role = "model"
    if hasattr(model, "student") and hasattr(model, "teacher"):
        model, role = model.student, "student"
    if not hasattr(model, "decode_head"):
        raise TypeError(f"{type(model).__name__} is not a segmentor (no decode_head); cannot export it")
    return model, role


def _norm_params(segmentor: nn.Module) -> tuple[Tensor, Tensor]:
    """Depthwise 1x1 conv weight ``(3, 1, 1, 1)`` and bias ``(3,)`` computing ``(x - mean) / std``."""
    mean, std = (torch.tensor(v, dtype=torch.float64) for v in normalization_of(segmentor))
    return (1.0 / std).float().view(3, 1, 1, 1), (-mean / std).float()


class SegmentationRaw(nn.Module):
    """Tensor path only: preprocessed images to logits.

    Args:
        segmentor: The ``EncoderDecoder`` (``segmentor(x, mode='tensor')``); an eval-mode copy is taken.
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(segmentor).eval()

    def forward(self, inputs: Tensor) -> Tensor:
        """Run.

        Args:
            inputs: Normalised float images ``(N, 3, H, W)``.

        Returns:
            ``seg_logits`` ``(N, C, H, W)``.
        """
        return self.model(inputs, mode="tensor")


class SegmentationEnd2End(nn.Module):
    """uint8 RGB frames in, logits or a uint8 label map out (see the module docstring).

    Args:
        segmentor: The ``EncoderDecoder`` to export (use :func:`segmentor_of`); an eval-mode copy is taken.
        output: ``'logits'`` (``seg_logits`` float32 ``(N, C, H, W)``) or ``'label_map'`` (uint8 ``(N, H, W)``).
    """

    def __init__(self, segmentor: nn.Module, output: str = "logits") -> None:
        super().__init__()
        if output not in OUTPUT_KINDS:
            raise ValueError(f"codebase_config.output must be one of {OUTPUT_KINDS}, got {output!r}")
        num_classes = int(getattr(segmentor, "num_classes", 0))
        if output == "label_map" and num_classes > 256:
            raise ValueError(f"a uint8 label map holds at most 256 classes, the model has {num_classes}")
        self.model = copy.deepcopy(segmentor).eval()
        self.output = output
        weight, bias = _norm_params(segmentor)
        # One NCHW kernel instead of Sub + Div broadcast over the 3-wide axis (see AnomalyEnd2End).
        self.register_buffer("norm_weight", weight)
        self.register_buffer("norm_bias", bias)

    @property
    def output_names(self) -> tuple[str, ...]:
        """``('seg_logits',)`` or ``('label_map',)``."""
        return LOGITS_OUTPUTS if self.output == "logits" else LABEL_OUTPUTS

    def preprocess(self, image: Tensor) -> Tensor:
        """``(N, H, W, 3)`` uint8 -> normalised float ``(N, 3, H, W)``."""
        x = image.float().permute(0, 3, 1, 2)  # cast first: TensorRT takes uint8 only as a Cast input
        return F.conv2d(x, self.norm_weight, self.norm_bias, groups=3)

    def forward(self, image: Tensor) -> Tensor:
        """Run pre-processing, the segmentor and (for ``label_map``) the argmax.

        Args:
            image: uint8 RGB ``(N, H, W, 3)``.

        Returns:
            ``seg_logits`` float32 ``(N, C, H, W)`` or ``label_map`` uint8 ``(N, H, W)``.
        """
        logits = self.model(self.preprocess(image), mode="tensor")
        if self.output == "logits":
            return logits
        return logits.argmax(dim=1).to(torch.uint8)


def preprocess_reference(segmentor: nn.Module, images: np.ndarray) -> Tensor:
    """Plain-op preprocessing of uint8 ``(N, H, W, 3)`` frames: float ``(N, 3, H, W)``, ``(x - mean) / std``."""
    mean, std = normalization_of(segmentor)
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def reference_logits(segmentor: nn.Module, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """What the graph must compute, through the unmodified segmentor (``mode='tensor'``), batched.

    Args:
        segmentor: The exported ``EncoderDecoder`` (put in eval mode).
        images: uint8 RGB ``(N, H, W, 3)``.
        batch_size: Images per forward pass.

    Returns:
        float32 logits ``(N, C, H, W)``; the label map is ``logits.argmax(1)``.
    """
    segmentor.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            chunks.append(segmentor(preprocess_reference(segmentor, images[i:i + batch_size]), mode="tensor").numpy())
    return np.concatenate(chunks)
