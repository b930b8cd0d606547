"""StyleGAN2 discriminator (Karras et al. 2020, arXiv 1912.04958, Fig. 7c "resnet" discriminator).

Layout of stylegan2-ada-pytorch ``training/networks.py:Discriminator``: fromRGB at the top resolution only, one
residual block per resolution from ``resolution`` down to 8 (channels ``min(channel_base // r, channel_max)``), the
label mapping ``cmap`` (8 FC layers, lr multiplier 0.01, ``cmap_dim`` = channels at 4x4) when ``c_dim > 0``, and the
4x4 epilogue (minibatch stddev, conv, fc, out, projection). Module names follow the official code (``b{res}``,
``mapping``, ``b4``), so weights convert key by key, and the module order is the layer order DynamicD enumerates.
"""

import math

from torch import Tensor, nn

from gen3d.registry import MODELS

from .discriminator_layers import (
    MBSTD_CHANNELS,
    MBSTD_GROUP_SIZE,
    DiscriminatorBlock,
    DiscriminatorEpilogue,
)
from .generator import CHANNEL_BASE, CHANNEL_MAX, channels_at
from .mapping import MappingNetwork


@MODELS.register_module()
class StyleGAN2Discriminator(nn.Module):
    """Residual StyleGAN2 discriminator with optional projection conditioning.

    Args:
        resolution: Input resolution (power of two, at least 8).
        img_channels: Image channels.
        c_dim: Label dimension; 0 for unconditional.
        channel_base: Channel multiplier.
        channel_max: Channel cap.
        mbstd_group_size: Minibatch-stddev group size (``None``: whole batch).
        mbstd_channels: Minibatch-stddev features (0 disables the layer).
        architecture: ``"resnet"`` (config F) or ``"orig"``.
        conv_clamp: Optional activation clamp of the convs.
        cmap_dim: Dimension of the mapped label; ``None`` = channels at 4x4 (stylegan2-ada default).
    """

    def __init__(self, resolution: int, img_channels: int = 3, c_dim: int = 0, channel_base: int = CHANNEL_BASE,
                 channel_max: int = CHANNEL_MAX, mbstd_group_size: int | None = MBSTD_GROUP_SIZE,
                 mbstd_channels: int = MBSTD_CHANNELS, architecture: str = "resnet", conv_clamp: float | None = None,
                 cmap_dim: int | None = None) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.img_channels, self.c_dim = resolution, img_channels, c_dim
        self.block_resolutions = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
        for res in self.block_resolutions:
            tmp = channels_at(res, channel_base, channel_max)
            block = DiscriminatorBlock(tmp if res < resolution else 0, tmp, channels_at(res // 2, channel_base,
                                       channel_max), img_channels, architecture=architecture, clamp=conv_clamp)
            setattr(self, f"b{res}", block)
        ch4 = channels_at(4, channel_base, channel_max)
        self.cmap_dim = 0 if c_dim == 0 else (cmap_dim or ch4)
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, self.cmap_dim, num_ws=None, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(ch4, 4, self.cmap_dim, mbstd_group_size, mbstd_channels, clamp=conv_clamp)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        """Score images.

        Args:
            img: ``(N, img_channels, resolution, resolution)`` in ``[-1, 1]``.
            c: ``(N, c_dim)`` labels, required when ``c_dim > 0``.

        Returns:
            ``(N, 1)`` real/fake logits.
        """
        if img.ndim != 4 or img.shape[1] != self.img_channels or img.shape[-1] != self.resolution:
            raise ValueError(f"expected images (N, {self.img_channels}, {self.resolution}, {self.resolution}), "
                             f"got {tuple(img.shape)}")
        x = img
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
