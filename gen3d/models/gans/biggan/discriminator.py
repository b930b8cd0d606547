"""BigGAN's projection discriminator (Miyato & Koyama, arXiv 1802.05637; Brock et al., arXiv 1809.11096).

::

    h = DBlock_k(... DBlock_0(x))      residual down-blocks, spectral norm, ReLU (BigGAN-PyTorch ``Discriminator``)
    phi(x) = sum_{H, W} ReLU(h)         [N, C]   global sum pooling
    D(x, y) = w^T phi(x) + b + <E y, phi(x)>     [N, 1]   linear output plus the projection term

``E`` is a spectrally normalised embedding of the class (a bias-free linear on the one-hot ``y``; BigGAN's
``SNEmbedding``), so ``D(x, y1) - D(x, y2) = <E (y1 - y2), phi(x)>`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.registry import MODELS

from .layers import DBlock, sn_linear


@MODELS.register_module()
class ProjectionDiscriminator(nn.Module):
    """``img [N, C, R, R], c [N, c_dim] -> logits [N, 1]`` (module docstring).

    Args:
        resolution: Input side ``R`` (a power of two >= 8): ``log2(R / 4)`` down-blocks to 4x4.
        img_channels: Input channels.
        c_dim: Number of classes; 0: no projection term (unconditional D).
        ch: Channel unit.
        channel_mults: One multiplier of ``ch`` per block (down-blocks, then ``extra_blocks``); None: all 4.
        extra_blocks: Non-downsampling blocks at 4x4 after the down-blocks (BigGAN's 32-px D has two at 8x8).
    """

    def __init__(self, resolution: int = 32, img_channels: int = 3, c_dim: int = 0, ch: int = 16,
                 channel_mults: Sequence[int] | None = None, extra_blocks: int = 1) -> None:
        super().__init__()
        num_down = int(round(math.log2(resolution / 4)))
        if resolution < 8 or 4 * 2**num_down != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        n = num_down + extra_blocks
        mults = tuple(channel_mults) if channel_mults is not None else (4,) * n
        if len(mults) != n:
            raise ValueError(f"channel_mults needs {n} entries, got {len(mults)}")
        self.c_dim, self.img_resolution, self.img_channels = c_dim, resolution, img_channels
        chans = (img_channels, *(ch * m for m in mults))
        self.blocks = nn.ModuleList(DBlock(chans[i], chans[i + 1], downsample=i < num_down, preactivation=i > 0)
                                    for i in range(n))
        self.linear = sn_linear(chans[-1], 1)
        self.embed = sn_linear(c_dim, chans[-1], bias=False) if c_dim > 0 else None

    def features(self, img: Tensor) -> Tensor:
        """``phi(x)``: the sum-pooled ReLU features ``[N, C]`` of ``img [N, img_channels, R, R]``."""
        h = img
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def projection(self, phi: Tensor, c: Tensor) -> Tensor:
        """``<E c, phi>`` ``[N, 1]`` of features ``phi [N, C]`` and classes ``c [N, c_dim]``."""
        return (self.embed(c.to(phi.dtype)) * phi).sum(1, keepdim=True)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        """Logits ``[N, 1]`` of ``img [N, img_channels, R, R]`` given one-hot ``c [N, c_dim]``.

        Raises:
            ValueError: A conditional D without ``c``.
        """
        phi = self.features(img)
        out = self.linear(phi)
        if self.embed is None:
            return out
        if c is None or c.shape != (img.shape[0], self.c_dim):
            raise ValueError(f"a conditional ProjectionDiscriminator needs c [{img.shape[0]}, {self.c_dim}], got "
                             f"{None if c is None else tuple(c.shape)}")
        return out + self.projection(phi, c)


__all__ = ["ProjectionDiscriminator"]
