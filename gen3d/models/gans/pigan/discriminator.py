"""pi-GAN's progressive encoder discriminator (Chan et al. 2021, arXiv 2012.00926, Sec. 3.3 and the supplement).

Official code: ``marcoamonteiro/pi-GAN:discriminators/sgdiscriminators.py`` (``CCSEncoderDiscriminator``, the CelebA
discriminator of ``curriculums.py``). Residual blocks of two 3x3 CoordConvs (the second strided), LeakyReLU 0.2 and a
strided 1x1 projection, summed and divided by ``sqrt 2``; a 1x1 ``fromRGB`` adapter per resolution; while a new
resolution fades in, the output of the first block is blended with ``fromRGB`` of the half-size (nearest) image by
``alpha``; a 2x2 convolution at 2 x 2 gives ``1 + latent_dim + pose_dim`` outputs: the realness logit, a predicted
latent (``z_lambda``, 0 in every released curriculum) and the predicted ``(pitch, yaw)`` of the pose loss
(``pos_lambda`` 15 for CelebA).

:meth:`PiGANDiscriminator.features` returns the feature map of every level, so that a geometry head (GeoD) can decode
from the same backbone; :meth:`PiGANDiscriminator.head` turns the coarsest one into the outputs; ``forward`` is both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen3d.registry import MODELS

#: ``CCSEncoderDiscriminator`` widths by input resolution of a level (the last level is 2 x 2).
CCS_CHANNELS = {256: 32, 128: 64, 64: 128, 32: 256, 16: 400, 8: 400, 4: 400, 2: 400}
LEAKY_SLOPE = 0.2
LATENT_DIM = 256  # the latent-prediction outputs (x[..., 1:257])
POSE_DIM = 2  # (pitch, yaw) (x[..., 257:259])
FINAL_SIZE = 2  # final_layer = Conv2d(400, 1 + 256 + 2, 2) on 2 x 2


def add_coords(x: Tensor) -> Tensor:
    """Append the CoordConv channels: row then column coordinate in ``[-1, 1]``.

    Args:
        x: ``(N, C, H, W)``.

    Returns:
        ``(N, C + 2, H, W)``.
    """
    n, _, h, w = x.shape
    rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([x, rows, cols], 1)


class CoordConv2d(nn.Conv2d):
    """A convolution over the input and its two coordinate channels (:func:`add_coords`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(in_channels + 2, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
        # kaiming_leaky_init: kaiming normal, a = 0.2, fan_in (the bias keeps PyTorch's default)
        nn.init.kaiming_normal_(self.weight, a=LEAKY_SLOPE, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)``."""
        return super().forward(add_coords(x))


class ResidualCoordBlock(nn.Module):
    """``(conv(x) + proj(x)) / sqrt 2`` halving the resolution (``ResidualCCBlock``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = CoordConv2d(in_channels, out_channels)
        self.conv2 = CoordConv2d(out_channels, out_channels, stride=2)
        self.proj = nn.Conv2d(in_channels, out_channels, 1, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W) -> (N, C_out, H / 2, W / 2)``."""
        y = F.leaky_relu(self.conv1(x), LEAKY_SLOPE)
        y = F.leaky_relu(self.conv2(y), LEAKY_SLOPE)
        return (y + self.proj(x)) / math.sqrt(2)


class FromRGB(nn.Sequential):
    """1x1 convolution + LeakyReLU 0.2 (``AdapterBlock``): ``(N, 3, H, W) -> (N, C, H, W)``."""

    def __init__(self, out_channels: int, in_channels: int = 3) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1), nn.LeakyReLU(LEAKY_SLOPE))


@MODELS.register_module()
class PiGANDiscriminator(nn.Module):
    """Progressive CoordConv residual discriminator with pose (and optional latent) prediction.

    Level ``i`` works at ``r_i = img_resolution / 2**i``: ``from_rgb[i]`` maps an image of that side to the level's
    width ``channels[r_i]``, ``blocks[i]`` (for ``r_i >= 4``) halves it to ``channels[r_i / 2]``; the head reads the
    2 x 2 map. An input of side ``r <= img_resolution`` enters at its level; ``alpha < 1`` fades the level in (module
    docstring). ``from_rgb`` at 2 x 2 only serves the fade-in of 4 px inputs, as in the official code.

    Args:
        img_resolution: Largest input side (a power of 2, >= 4).
        img_channels: Input channels.
        channels: Width by level side; defaults to :data:`CCS_CHANNELS` (sides above 256 use 32).
        width: Multiplier of every width (CPU configs narrow the discriminator with it).
        pose_dim: Predicted pose outputs (0: none).
        latent_dim: Predicted latent outputs (0: none).
    """

    def __init__(self, img_resolution: int = 64, img_channels: int = 3, channels: dict[int, int] | None = None,
                 width: float = 1.0, pose_dim: int = POSE_DIM, latent_dim: int = LATENT_DIM) -> None:
        super().__init__()
        num = int(round(math.log2(max(img_resolution, 1))))
        if img_resolution < 4 or 2**num != img_resolution:
            raise ValueError(f"img_resolution must be a power of 2 >= 4, got {img_resolution}")
        table = {int(k): int(v) for k, v in (channels or CCS_CHANNELS).items()}
        self.resolutions = [img_resolution // 2**i for i in range(num)]  # img_resolution .. 2
        self.channels = [max(1, int(round(table.get(r, 32) * width))) for r in self.resolutions]
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.pose_dim, self.latent_dim = int(pose_dim), int(latent_dim)
        self.from_rgb = nn.ModuleList(FromRGB(c, img_channels) for c in self.channels)
        self.blocks = nn.ModuleList(ResidualCoordBlock(a, b) for a, b in zip(self.channels, self.channels[1:]))
        self.final = nn.Conv2d(self.channels[-1], 1 + self.latent_dim + self.pose_dim, FINAL_SIZE)

    def level(self, resolution: int) -> int:
        """Index of the level an image of side ``resolution`` enters at.

        Raises:
            ValueError: A side without a level (or 2).
        """
        if resolution not in self.resolutions[:-1]:
            raise ValueError(f"{type(self).__name__} takes inputs of {self.resolutions[:-1]} px, got {resolution}")
        return self.resolutions.index(resolution)

    def features(self, img: Tensor, alpha: float = 1.0) -> list[Tensor]:
        """Feature maps of every level entered, fine to coarse.

        Args:
            img: ``(N, C, r, r)`` in ``[-1, 1]``, ``r`` a level side other than 2.
            alpha: Fade-in of the entry level in ``[0, 1]`` (1: faded in).

        Returns:
            ``[from_rgb(img) (N, C_r, r, r), (N, C_{r/2}, r/2, r/2), ..., (N, C_2, 2, 2)]``: the entry adapter's
            output, then every block's; the first block's output is blended with ``from_rgb`` of the half-size image
            while ``alpha < 1``.

        Raises:
            ValueError: Images of another shape.
        """
        if img.dim() != 4 or img.shape[1] != self.img_channels or img.shape[2] != img.shape[3]:
            raise ValueError(f"{type(self).__name__} expects (N, {self.img_channels}, r, r) images, got "
                             f"{tuple(img.shape)}")
        start = self.level(img.shape[-1])
        x = self.from_rgb[start](img)
        feats = [x]
        for i in range(start, len(self.blocks)):
            x = self.blocks[i](x)
            if i == start and alpha < 1:  # fade in: the new level vs the half-size image at the next one
                skip = self.from_rgb[start + 1](F.interpolate(img, scale_factor=0.5, mode="nearest"))
                x = alpha * x + (1 - alpha) * skip
            feats.append(x)
        return feats

    def head(self, feature: Tensor) -> dict[str, Tensor | None]:
        """Outputs from the 2 x 2 map of the last level (``features(...)[-1]``).

        Args:
            feature: ``(N, C_2, 2, 2)``.

        Returns:
            ``{'logit': (N, 1), 'latent': (N, latent_dim) or None, 'pose': (N, pose_dim) (pitch, yaw) or None}``.
        """
        out = self.final(feature).flatten(1)
        return {"logit": out[:, :1],
                "latent": out[:, 1:1 + self.latent_dim] if self.latent_dim else None,
                "pose": out[:, 1 + self.latent_dim:] if self.pose_dim else None}

    def forward(self, img: Tensor, c: Tensor | None = None, pose: Tensor | None = None,
                alpha: float = 1.0) -> dict[str, Tensor | None]:
        """Realness logit and predicted pose / latent of images: ``head(features(img, alpha)[-1])``.

        Args:
            img: ``(N, C, r, r)`` in ``[-1, 1]``.
            c: Unused (pi-GAN's discriminator is unconditional); kept for the discriminator call ``D(img, c)``.
            pose: Unused (it predicts the pose rather than reading it).
            alpha: Fade-in of the entry level.

        Returns:
            See :meth:`head`.
        """
        return self.head(self.features(img, alpha)[-1])
