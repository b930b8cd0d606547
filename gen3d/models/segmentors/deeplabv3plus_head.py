"""DeepLabV3+ decoder head (Chen et al., ECCV 2018, arXiv 1802.02611) and U2PL's representation head.

``high -> ASPP (256) -> upsample x(os/4) -> concat with 1x1-projected low level -> 3x3 convs -> 1x1 classifier``
at stride 4. The paper (Sec. 3.1, Table 1) projects the stride-4 features to 48 channels and refines with two
3x3 convs of 256; U2PL's ``dec_deeplabv3_plus`` projects to 256 and adds Dropout2d(0.1) after each 3x3 conv.

U2PL (arXiv 2203.03884, Sec. 3.3) adds a representation head for its contrastive loss: same structure as the
classifier branch (two 3x3 conv-BN-ReLU-dropout) ending in a 1x1 conv to 256-d, applied to the same
concatenated decoder features.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gen3d.registry import MODELS

from .aspp import ASPP, ASPP_CHANNELS, conv_bn_relu

# DeepLabV3+ Sec. 4.1 / Table 1: 48-channel low-level projection, two 3x3 convs with 256 channels.
LOW_LEVEL_CHANNELS = 48
DECODER_CHANNELS = 256
# U2PL `dec_deeplabv3_plus`: Dropout2d(0.1) in the classifier and representation branches, 256-d representation.
DECODER_DROPOUT = 0.1
REPR_CHANNELS = 256


def _refine(in_channels: int, channels: int, num_convs: int, dropout: float) -> nn.Sequential:
    """``num_convs`` x (3x3 conv -> BN -> ReLU -> Dropout2d)."""
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [conv_bn_relu(in_channels if i == 0 else channels, channels, 3), nn.Dropout2d(dropout)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class RepresentationHead(nn.Module):
    """U2PL representation head: ``num_convs`` x (3x3 conv-BN-ReLU-dropout) then a 1x1 conv.

    Args:
        in_channels: Channels of the decoder features.
        channels: Hidden channels.
        out_channels: Representation dimension (U2PL: 256).
        num_convs: Number of 3x3 conv blocks (U2PL: 2).
        dropout: Dropout2d probability.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = DECODER_CHANNELS,
        out_channels: int = REPR_CHANNELS,
        num_convs: int = 2,
        dropout: float = DECODER_DROPOUT,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.refine = _refine(in_channels, channels, num_convs, dropout)
        self.proj = nn.Conv2d(channels if num_convs else in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Project decoder features.

        Args:
            x: Decoder features ``(B, in_channels, h, w)``.

        Returns:
            Representations ``(B, out_channels, h, w)`` (not normalised).
        """
        return self.proj(self.refine(x))


@MODELS.register_module()
class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+ decoder with an optional U2PL representation head.

    Args:
        in_channels: Channels of ``(low_level, high_level)`` backbone features.
        num_classes: Number of classes.
        channels: Channels of ASPP and of the decoder convs.
        low_level_channels: Channels of the 1x1 low-level projection (paper 48, U2PL 256).
        dilations: ASPP rates; ``None`` uses the paper's rates for ``output_stride``.
        output_stride: Stride of the high-level features (8 or 16).
        aspp_project_kernel_size: ASPP projection kernel (DeepLabV3 1, U2PL 3).
        num_convs: 3x3 convs after the concatenation (paper 2).
        dropout: Dropout2d after ASPP and after each decoder conv.
        with_repr: Add :class:`RepresentationHead` on the concatenated decoder features.
        repr_channels: Representation dimension.
        align_corners: ``align_corners`` of the bilinear upsampling (U2PL: True).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        channels: int = ASPP_CHANNELS,
        low_level_channels: int = LOW_LEVEL_CHANNELS,
        dilations: Sequence[int] | None = None,
        output_stride: int = 16,
        aspp_project_kernel_size: int = 1,
        num_convs: int = 2,
        dropout: float = DECODER_DROPOUT,
        with_repr: bool = False,
        repr_channels: int = REPR_CHANNELS,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if len(in_channels) != 2:
            raise ValueError(f"in_channels must be (low_level, high_level), got {in_channels}")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.with_repr = with_repr
        self.aspp = ASPP(self.in_channels[1], channels, dilations, output_stride, aspp_project_kernel_size, dropout)
        self.low_proj = conv_bn_relu(self.in_channels[0], low_level_channels)
        fused = channels + low_level_channels
        self.refine = _refine(fused, channels, num_convs, dropout)
        self.classifier = nn.Conv2d(channels if num_convs else fused, num_classes, 1)
        self.repr_head = RepresentationHead(fused, channels, repr_channels, num_convs, dropout) if with_repr else None

    def decoder_features(self, feats: Sequence[Tensor]) -> Tensor:
        """ASPP on the high level, upsampled and concatenated with the projected low level.

        Args:
            feats: ``[low (B, C_low, h4, w4), high (B, C_high, h, w)]``.

        Returns:
            ``(B, channels + low_level_channels, h4, w4)``.
        """
        low, high = feats[0], feats[-1]
        aspp = F.interpolate(self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        return torch.cat([self.low_proj(low), aspp], dim=1)

    def forward_with_repr(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor | None]:
        """Logits and (if ``with_repr``) representations, both at stride 4.

        Args:
            feats: ``[low (B, C_low, h4, w4), high (B, C_high, h, w)]``.

        Returns:
            ``logits (B, num_classes, h4, w4)`` and ``repr (B, repr_channels, h4, w4)`` or ``None``.
        """
        x = self.decoder_features(feats)
        logits = self.classifier(self.refine(x))
        return logits, (self.repr_head(x) if self.repr_head is not None else None)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Logits at stride 4 (the representation head is skipped).

        Args:
            feats: ``[low (B, C_low, h4, w4), high (B, C_high, h, w)]``.

        Returns:
            ``(B, num_classes, h4, w4)``.
        """
        return self.classifier(self.refine(self.decoder_features(feats)))
