"""Multi-scale feature alignment of UniAD (arXiv 2206.03687, Sec. 4.1; official ``MFCN`` neck).

Every stage map is resized to the grid of the output stride (16 in the paper) with bilinear interpolation and
``align_corners=True`` (UniAD's ``nn.UpsamplingBilinear2d``; it *down*-samples the stride 2/4/8 maps), then the
maps are concatenated along channels: 24+32+56+160 = 272 channels at 14x14 for EfficientNet-B4 at 224 px.
With ``align_corners=True`` the sampling grid depends only on the input and output sizes, so resizing to an
explicit size gives exactly UniAD's ``scale_factor`` result.
"""

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

OUT_STRIDE = 16  # UniAD official config: `outstrides: [16]`


@MODELS.register_module()
class FeatureAligner(nn.Module):
    """Resize multi-stage maps to one grid and concatenate them.

    Args:
        in_channels: Channels of each input map.
        in_strides: Stride of each input map w.r.t. the image.
        out_stride: Stride of the common grid.

    Attributes:
        out_channels: ``sum(in_channels)``.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (24, 32, 56, 160),
        in_strides: Sequence[int] = (2, 4, 8, 16),
        out_stride: int = OUT_STRIDE,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(in_strides):
            raise ValueError("in_channels and in_strides must have the same length")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.in_strides = tuple(int(s) for s in in_strides)
        self.out_stride = int(out_stride)
        self.out_channels = sum(self.in_channels)

    def grid_size(self, features: Sequence[Tensor]) -> tuple[int, int]:
        """Target grid: the size of the map already at ``out_stride``, else derived from the first map.

        Args:
            features: Input maps ``(B, C_k, H_k, W_k)``.

        Returns:
            ``(H, W)`` of the common grid.
        """
        if self.out_stride in self.in_strides:
            ref = features[self.in_strides.index(self.out_stride)]
            return int(ref.shape[-2]), int(ref.shape[-1])
        ratio = self.in_strides[0] / self.out_stride
        return math.ceil(features[0].shape[-2] * ratio), math.ceil(features[0].shape[-1] * ratio)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Align and concatenate.

        Args:
            features: One map per stage, ``(B, in_channels[k], H_k, W_k)``.

        Returns:
            ``(B, out_channels, H, W)`` on the ``out_stride`` grid.
        """
        if len(features) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} maps, got {len(features)}")
        if self.out_stride in self.in_strides:
            # Taken from the tensor, not converted to ints: a traced export records no constant-folded shapes.
            size = features[self.in_strides.index(self.out_stride)].shape[-2:]
        else:
            size = self.grid_size(features)
        resized = [
            feat if stride == self.out_stride else F.interpolate(feat, size, mode="bilinear", align_corners=True)
            for feat, stride in zip(features, self.in_strides)
        ]
        return torch.cat(resized, dim=1)
