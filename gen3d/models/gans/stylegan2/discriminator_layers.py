"""Discriminator blocks of StyleGAN2 (Karras et al. 2020, arXiv 1912.04958, Sec. 4 and Fig. 7c; ProGAN 1710.10196).

Facts from stylegan2-ada-pytorch ``training/networks.py`` (``DiscriminatorBlock``, ``MinibatchStdLayer``,
``DiscriminatorEpilogue``): a resnet block is ``conv3x3 -> conv3x3 down2`` plus a bias-free ``1x1 down2`` skip, both
branches scaled by ``sqrt(0.5)``; the epilogue appends minibatch-stddev features, then ``conv3x3``, ``fc`` and ``out``;
a conditional discriminator projects ``out`` onto the mapped label ``cmap`` (Miyato & Koyama 2018 projection),
scaled by ``1 / sqrt(cmap_dim)``.

Every equalized layer is built with a :class:`WidthMask` hint (fromRGB keeps its input, the epilogue conv always
keeps the stddev channel, ``fc`` groups its flattened inputs by ``res ** 2``, ``out`` keeps its outputs) so that
:class:`~gen3d.models.gans.DynamicDiscriminator` can mask it; the hints do nothing while no ratio is set.
"""

import math
import warnings

import torch
from torch import Tensor, nn

from gen3d.models.layers.dynamic_width import WidthMask
from gen3d.models.layers.equalized import EqualConv2d, EqualLinear

MBSTD_GROUP_SIZE = 4  # stylegan2-ada cfg_specs: mbstd=4 (paper256: 8)
MBSTD_CHANNELS = 1  # DiscriminatorEpilogue(mbstd_num_channels=1)
MBSTD_EPS = 1e-8
RESIDUAL_GAIN = math.sqrt(0.5)  # DiscriminatorBlock: skip(gain=sqrt(0.5)), conv1(gain=sqrt(0.5))


class MinibatchStdLayer(nn.Module):
    """Append the average feature standard deviation over groups of samples (ProGAN Sec. 3).

    The group size is the largest divisor of the batch size ``N`` not exceeding ``group_size``, so any ``N`` works
    (``N < group_size`` gives one group of ``N``; stylegan2-ada uses ``min(group_size, N)`` and requires divisibility).
    Groups are strided like the official reshape: sample ``i`` belongs to group ``i % (N // G)``. The divisor is
    computed with tensor ops, so an exported graph stays valid for every batch size.

    Args:
        group_size: Maximum group size; ``None`` uses the whole minibatch.
        num_channels: Number of stddev features (the channels are split into this many groups).
    """

    def __init__(self, group_size: int | None = MBSTD_GROUP_SIZE, num_channels: int = MBSTD_CHANNELS) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def _group(self, n: int) -> Tensor | int:
        if self.group_size is None:
            return n
        with warnings.catch_warnings():  # the traced batch size stays symbolic (checked by an ONNX test)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            cand = torch.arange(1, self.group_size + 1)
            return (cand * (torch.as_tensor(n) % cand == 0)).max()

    def forward(self, x: Tensor) -> Tensor:
        """Append the stddev features.

        Args:
            x: ``(N, C, H, W)`` with ``C`` divisible by ``num_channels``.

        Returns:
            ``(N, C + num_channels, H, W)``.
        """
        n, c, h, w = x.shape
        g, f = self._group(n), self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # (G, n, F, c, H, W)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + MBSTD_EPS).sqrt()  # (n, F, c, H, W)
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)  # (n, F, 1, 1)
        y = y.repeat(g, 1, h, w)  # (N, F, H, W)
        return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """One resolution of the StyleGAN2 discriminator: ``res -> res // 2``.

    Args:
        in_channels: Feature channels entering the block; 0 for the first block (fromRGB of the image).
        tmp_channels: Channels of the first conv.
        out_channels: Channels leaving the block.
        img_channels: Image channels (fromRGB input).
        architecture: ``"resnet"`` (skip 1x1 branch) or ``"orig"`` (plain).
        clamp: Optional output clamp of the convs.
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 architecture: str = "resnet", clamp: float | None = None) -> None:
        super().__init__()
        if architecture not in ("resnet", "orig"):
            raise ValueError(f"unsupported discriminator architecture {architecture!r}")
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 or tmp_channels")
        self.in_channels, self.architecture = in_channels, architecture
        if in_channels == 0:
            self.fromrgb = EqualConv2d(img_channels, tmp_channels, 1, activation="lrelu", clamp=clamp,
                                       width_mask=WidthMask(keep_in=True))
        self.conv0 = EqualConv2d(tmp_channels, tmp_channels, 3, activation="lrelu", clamp=clamp,
                                 width_mask=WidthMask())
        self.conv1 = EqualConv2d(tmp_channels, out_channels, 3, activation="lrelu", down=2, clamp=clamp,
                                 width_mask=WidthMask())
        if architecture == "resnet":
            self.skip = EqualConv2d(tmp_channels, out_channels, 1, bias=False, down=2, width_mask=WidthMask())

    def forward(self, x: Tensor, skip_fromrgb: bool = False) -> Tensor:
        """Apply the block.

        Args:
            x: Image ``(N, img_channels, R, R)`` for the first block, else features ``(N, in_channels, R, R)``.
            skip_fromrgb: The first block's ``x`` is already features ``(N, tmp_channels, R, R)``: the caller applied
                ``fromrgb`` itself (DepthGAN adds a depth stem to it). Ignored by the other blocks.

        Returns:
            ``(N, out_channels, R // 2, R // 2)``.
        """
        if self.in_channels == 0 and not skip_fromrgb:
            x = self.fromrgb(x)
        if self.architecture == "resnet":
            y = self.skip(x, gain=RESIDUAL_GAIN)
            return y + self.conv1(self.conv0(x), gain=RESIDUAL_GAIN)
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """Final 4x4 stage: minibatch stddev, conv, fc, out, optional projection onto the mapped label.

    Args:
        in_channels: Channels at the final resolution.
        resolution: Final resolution (4).
        cmap_dim: Dimension of the mapped label; 0 for an unconditional logit.
        mbstd_group_size: Group size of the stddev layer (``None``: whole batch).
        mbstd_channels: Stddev features; 0 disables the layer.
        clamp: Optional output clamp of the conv.
    """

    def __init__(self, in_channels: int, resolution: int = 4, cmap_dim: int = 0,
                 mbstd_group_size: int | None = MBSTD_GROUP_SIZE, mbstd_channels: int = MBSTD_CHANNELS,
                 clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.cmap_dim = in_channels, resolution, cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_channels) if mbstd_channels > 0 else None
        # Official: the epilogue layers are always dynamic and are not counted by `keepd`.
        self.conv = EqualConv2d(in_channels + mbstd_channels, in_channels, 3, activation="lrelu", clamp=clamp,
                                width_mask=WidthMask(minus_dim=mbstd_channels, counted=False))
        self.fc = EqualLinear(in_channels * resolution**2, in_channels, activation="lrelu",
                              width_mask=WidthMask(div_dim=resolution**2, counted=False))
        self.out = EqualLinear(in_channels, 1 if cmap_dim == 0 else cmap_dim,
                               width_mask=WidthMask(keep_out=True, counted=False))

    def forward(self, x: Tensor, cmap: Tensor | None = None) -> Tensor:
        """Compute the logit.

        Args:
            x: ``(N, in_channels, res, res)``.
            cmap: Mapped label ``(N, cmap_dim)``, required when ``cmap_dim > 0``.

        Returns:
            ``(N, 1)`` logits.
        """
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            if cmap is None:
                raise ValueError("a conditional discriminator needs the mapped label")
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x
