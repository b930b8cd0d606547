"""DepthGAN's switchable discriminator (Shi et al. 2022, ECCV'22, arXiv 2202.08553, Sec. 3.2).

Facts from ``VivianSZF/depthgan@80b259d:models/depthgan_discriminator.py`` (``DepthGANDiscriminator``,
``DepthLossLayer``, ``ResBlock``) and ``runners/losses/depthgan_loss.py``:

- The backbone is the residual StyleGAN2 discriminator. Besides the RGB stem (fromRGB, official ``input0``) a depth
  stem (official ``input_depth``: 1x1 equalized conv, 1 -> channels at the top resolution, lrelu) reads the fourth
  channel; for RGBD input both stems are summed. For RGB-only input the depth stem runs on zeros and is multiplied by
  0, so its parameters stay in the graph (zero gradients) and the output equals the RGB stem alone.
- Both paths always return the real/fake score (official ``score``) and the depth logits (official ``depthimage``).
- The depth head (official ``DepthLossLayer``) decodes the features that *enter* the blocks at 16, 32 and 64 px (the
  stems' sum when 64 is the input resolution), coarse to fine: ``conv3x3 (C -> C / 2, lrelu)``, a residual block
  ``x + conv3x3_linear(conv3x3_lrelu(x))``, bilinear x2 up-sampling, concatenation with the next finer features; after
  the finest level a 1x1 conv (lrelu, as the official head) gives ``num_bins`` = 10 logits, bilinearly up-sampled by
  ``resolution / 64`` to the input size. All head layers are equalized convs with bias, without clamp.
- Targets: ``bin(d) = clamp(floor((d + 1) / 2 * 10), 0, 9)`` of the depth ``d`` in ``[-1, 1]`` (:func:`depth_bins`);
  the losses are cross-entropy of D's RGB-only depth logits (G: on fakes, weight ``gdloss``; D: on reals, ``ddloss``).

Module names of the backbone follow stylegan2-ada (``b{res}``, ``b4``); the new modules are ``fromdepth`` (official
``input_depth``) and ``depth_head`` (official ``depthlosslayer``).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.evaluation.metrics.depthgan_warp import NUM_DEPTH_BINS
from gen3d.models.layers.equalized import EqualConv2d
from gen3d.registry import MODELS

from ..stylegan2.discriminator import StyleGAN2Discriminator
from ..stylegan2.discriminator_layers import MBSTD_CHANNELS, MBSTD_GROUP_SIZE
from ..stylegan2.generator import CHANNEL_BASE, CHANNEL_MAX, channels_at

DEPTH_HEAD_RESOLUTIONS = (64, 32, 16)  # feature_list: the block inputs at 64, 32, 16 (fine to coarse)
RGB_CHANNELS = 3


class _HeadResBlock(nn.Module):
    """Official ``ResBlock``: ``x + conv3x3_linear(conv3x3_lrelu(x))`` (no residual gain).

    Args:
        channels: Feature channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(channels, channels, 3, activation="lrelu")
        self.conv2 = EqualConv2d(channels, channels, 3, activation="linear")

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``."""
        return x + self.conv2(self.conv1(x))


class DepthBinHead(nn.Module):
    """U-Net-style decoder of discriminator features into per-pixel depth-bin logits (official ``DepthLossLayer``).

    Args:
        channels: Feature channels per level, fine to coarse (official: channels at 64, 32, 16).
        num_bins: Output classes.
        scale_factor: Bilinear up-sampling of the logits to the input size (official ``resolution // 64``).
    """

    def __init__(self, channels: Sequence[int], num_bins: int = NUM_DEPTH_BINS, scale_factor: int = 1) -> None:
        super().__init__()
        self.channels, self.num_bins, self.scale_factor = tuple(channels), num_bins, scale_factor
        coarse_to_fine = self.channels[::-1]
        self.convs, self.blocks = nn.ModuleList(), nn.ModuleList()
        prev = 0
        for ch in coarse_to_fine:
            self.convs.append(EqualConv2d(prev + ch, ch // 2, 3, activation="lrelu"))
            self.blocks.append(_HeadResBlock(ch // 2))
            prev = ch // 2
        self.out = EqualConv2d(prev, num_bins, 1, activation="lrelu")  # official convf: lrelu on the logits

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Decode the features.

        Args:
            features: Fine to coarse, level ``i`` ``(N, channels[i], R_i, R_i)`` with ``R_i = R_0 / 2**i``.

        Returns:
            ``(N, num_bins, R_0 * scale_factor, R_0 * scale_factor)`` logits.
        """
        if len(features) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} feature levels, got {len(features)}")
        x = None
        for feat, conv, block in zip(features[::-1], self.convs, self.blocks, strict=True):
            feat = feat.float()  # official: the head runs in float32
            if x is not None:
                x = torch.cat([F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), feat], 1)
            else:
                x = feat
            x = block(conv(x))
        x = self.out(x)
        if self.scale_factor != 1:
            x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return x


@MODELS.register_module()
class DepthGANDiscriminator(StyleGAN2Discriminator):
    """Switchable RGB / RGBD StyleGAN2 discriminator with a depth-bin classification head.

    Args:
        resolution: Input resolution (power of two, at least ``depth_head_resolutions[0]``).
        c_dim: Label dimension; 0 for unconditional.
        channel_base: Channel multiplier.
        channel_max: Channel cap.
        mbstd_group_size: Minibatch-stddev group size (DepthGAN's scripts: 8; the class default 4).
        mbstd_channels: Minibatch-stddev features.
        conv_clamp: Optional activation clamp of the backbone convs (not the head's, as the official code).
        num_bins: Depth bins of the head.
        depth_head_resolutions: Resolutions whose block inputs the head decodes, fine to coarse, each half the
            previous, all in ``[8, resolution]``. Official ``(64, 32, 16)``; a 32 px CPU model may use ``(32, 16, 8)``.
    """

    def __init__(self, resolution: int, c_dim: int = 0, channel_base: int = CHANNEL_BASE,
                 channel_max: int = CHANNEL_MAX, mbstd_group_size: int | None = MBSTD_GROUP_SIZE,
                 mbstd_channels: int = MBSTD_CHANNELS, conv_clamp: float | None = None,
                 num_bins: int = NUM_DEPTH_BINS,
                 depth_head_resolutions: Sequence[int] = DEPTH_HEAD_RESOLUTIONS) -> None:
        super().__init__(resolution, img_channels=RGB_CHANNELS, c_dim=c_dim, channel_base=channel_base,
                         channel_max=channel_max, mbstd_group_size=mbstd_group_size, mbstd_channels=mbstd_channels,
                         architecture="resnet", conv_clamp=conv_clamp)
        taps = tuple(depth_head_resolutions)
        if not taps or taps[0] > resolution or taps[-1] < 8 or any(b * 2 != a for a, b in zip(taps, taps[1:])):
            raise ValueError(f"depth_head_resolutions must halve from <= resolution ({resolution}) down to >= 8, "
                             f"got {taps}")
        self.num_bins, self.depth_head_resolutions = num_bins, taps
        top = channels_at(resolution, channel_base, channel_max)
        self.fromdepth = EqualConv2d(1, top, 1, activation="lrelu", clamp=conv_clamp)  # no DynamicD width mask
        self.depth_head = DepthBinHead([channels_at(r, channel_base, channel_max) for r in taps], num_bins,
                                       resolution // taps[0])

    def forward(self, img_or_rgbd: Tensor, c: Tensor | None = None) -> dict[str, Tensor]:
        """Score RGB or RGBD images and classify the depth of every pixel.

        Args:
            img_or_rgbd: ``(N, 3, R, R)`` RGB or ``(N, 4, R, R)`` RGB + depth, all in ``[-1, 1]``.
            c: ``(N, c_dim)`` labels, required when ``c_dim > 0``.

        Returns:
            ``logit`` ``(N, 1)`` real/fake logits (official ``score``) and ``depth_logits`` ``(N, num_bins, R, R)``
            (official ``depthimage``; targets :func:`depth_bins`).
        """
        x, size = img_or_rgbd, (self.resolution, self.resolution)
        if x.ndim != 4 or x.shape[1] not in (RGB_CHANNELS, RGB_CHANNELS + 1) or tuple(x.shape[-2:]) != size:
            raise ValueError(f"expected RGB (N, 3, {self.resolution}, {self.resolution}) or RGBD (N, 4, ...), "
                             f"got {tuple(x.shape)}")
        top = getattr(self, f"b{self.resolution}")
        if x.shape[1] == RGB_CHANNELS:  # RGB-only: the depth stem's contribution is zeroed, as the official code
            x = top.fromrgb(x) + self.fromdepth(torch.zeros_like(x[:, :1])) * 0
        else:
            x = top.fromrgb(x[:, :RGB_CHANNELS]) + self.fromdepth(x[:, RGB_CHANNELS:])
        features = []
        for res in self.block_resolutions:
            if res in self.depth_head_resolutions:
                features.append(x)
            x = getattr(self, f"b{res}")(x, skip_fromrgb=True)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return {"logit": self.b4(x, cmap), "depth_logits": self.depth_head(features)}
