"""Atrous Spatial Pyramid Pooling (DeepLabV3, Chen et al. 2017, arXiv 1706.05587, Sec. 3.3).

Five parallel branches on the high-level map: image pooling (global average -> 1x1 conv -> BN -> ReLU, broadcast
back), a 1x1 conv and three 3x3 atrous convs, 256 channels each; the 1280 concatenated channels are projected
to 256 (conv + BN + ReLU + dropout). The paper uses rates (6, 12, 18) at output stride 16 and doubles them at
output stride 8. DeepLabV3 projects with a 1x1 conv; U2PL's ``dec_deeplabv3_plus`` (``head``) with a 3x3 conv
and Dropout2d(0.1): set ``project_kernel_size=3`` to match it.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gen3d.registry import MODELS

# DeepLabV3 Sec. 3.3: rates (6, 12, 18) at output stride 16, doubled at output stride 8; 256 channels per branch.
ASPP_RATES_OS16 = (6, 12, 18)
ASPP_CHANNELS = 256
# DeepLabV3+ / U2PL: dropout 0.1 after the ASPP projection.
ASPP_DROPOUT = 0.1


def aspp_rates(output_stride: int) -> tuple[int, ...]:
    """Paper ASPP rates for an output stride: (6, 12, 18) at 16, (12, 24, 36) at 8, (3, 6, 9) at 32."""
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    return tuple(r * 16 // output_stride for r in ASPP_RATES_OS16)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> nn.Sequential:
    """``Conv (no bias, 'same' padding) -> BN -> ReLU``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2), dilation=dilation,
                  bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@MODELS.register_module()
class ASPP(nn.Module):
    """ASPP with an image-pooling branch.

    Args:
        in_channels: Channels of the high-level map.
        channels: Channels of each branch and of the output.
        dilations: Rates of the three 3x3 branches; ``None`` takes :func:`aspp_rates` of ``output_stride``.
        output_stride: Stride of the input map, used only when ``dilations`` is ``None``.
        project_kernel_size: 1 (DeepLabV3) or 3 (U2PL).
        dropout: Dropout2d probability after the projection.

    Attributes:
        dilations: The rates in use.
        out_channels: ``channels``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = ASPP_CHANNELS,
        dilations: Sequence[int] | None = None,
        output_stride: int = 16,
        project_kernel_size: int = 1,
        dropout: float = ASPP_DROPOUT,
    ) -> None:
        super().__init__()
        self.dilations = tuple(dilations) if dilations is not None else aspp_rates(output_stride)
        self.out_channels = channels
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn_relu(in_channels, channels))
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_channels, channels)] + [conv_bn_relu(in_channels, channels, 3, d) for d in self.dilations]
        )
        self.project = nn.Sequential(
            conv_bn_relu(channels * (len(self.branches) + 1), channels, project_kernel_size), nn.Dropout2d(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Apply ASPP.

        Args:
            x: High-level features ``(B, in_channels, h, w)``.

        Returns:
            ``(B, channels, h, w)``.
        """
        # Bilinear upsampling of a 1x1 map is a broadcast; expand keeps the exported graph simple.
        pooled = self.image_pool(x).expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.project(torch.cat([pooled] + [branch(x) for branch in self.branches], dim=1))

