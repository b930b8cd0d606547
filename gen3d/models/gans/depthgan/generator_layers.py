"""Blocks of the DepthGAN dual-path generator (Shi et al., ECCV'22, arXiv 2202.08553, Sec. 3.1).

Facts from the official code, ``VivianSZF/depthgan@80b259d`` ``models/depthgan_generator.py``:

- The yaw ``a`` ``[N, 1]`` is embedded as ``[sin a, cos a, sin 2a, cos 2a, sin 3a, cos 3a, sin 4a, cos 4a]``
  (``MappingNetwork.forward``, ``input_a``), then ``params_fc1`` (8 -> w_dim) and ``params_fc2`` (w_dim -> w_dim),
  both leaky-ReLU ``DenseLayer`` s with the mapping network's learning-rate multiplier (0.01) and zero bias. The
  result ``cam_p`` multiplies the ``w`` of synthesis layers 0, 1 and 2 of the depth path (the same vector for all
  three, ``repeat_w=True``); the ToRGB layers keep the plain ``w`` (``SynthesisNetwork_depth.forward``).
- The RGB path replaces the features after every modulated conv ``l`` by
  ``d_layer_beta{l}(d_layer_gamma{l}(cat(x, output_feature{l} of the depth path)))``: a 1x1 conv 2C -> C with leaky
  ReLU, then a 1x1 linear conv C -> C, both with bias and with weights drawn ``N(0, 1) / 10`` (``init_cov=10.0``)
  under the equalized learning rate (``SynthesisNetwork_rgb``).
"""

import torch
from torch import Tensor, nn

from gen3d.models.layers.equalized import EqualConv2d, EqualLinear
from gen3d.models.layers.fir import static_int

from ..stylegan2.mapping import MAPPING_LR_MULT

ANGLE_FREQUENCIES = 4  # sin(k a), cos(k a) for k = 1..4: an 8-d embedding
ANGLE_LAYERS = 3  # cam_p multiplies the w of synthesis layers 0-2
INJECTION_INIT_DIV = 10.0  # ConvLayer(init_cov=10.0): weights N(0, 1) / 10


def embed_angle(angle: Tensor, frequencies: int = ANGLE_FREQUENCIES) -> Tensor:
    """Fourier embedding of an angle, in DepthGAN's order ``[sin a, cos a, sin 2a, cos 2a, ...]``.

    Args:
        angle: ``(N, 1)`` radians.
        frequencies: Number of frequencies ``K``.

    Returns:
        ``(N, 2 K)``.
    """
    parts = []
    for k in range(1, frequencies + 1):
        parts += [torch.sin(k * angle), torch.cos(k * angle)]
    return torch.cat(parts, dim=-1)


class AngleMapping(nn.Module):
    """Yaw -> ``cam_p``, the per-sample scale of the depth path's early ``w`` (DepthGAN's ``params_fc1/2``).

    Args:
        w_dim: Dimension of ``w`` (and of ``cam_p``).
        frequencies: Frequencies of the angle embedding.
        lr_multiplier: Learning-rate multiplier of both layers (the mapping network's).
    """

    def __init__(self, w_dim: int, frequencies: int = ANGLE_FREQUENCIES,
                 lr_multiplier: float = MAPPING_LR_MULT) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.fc0 = EqualLinear(2 * frequencies, w_dim, activation="lrelu", lr_multiplier=lr_multiplier)
        self.fc1 = EqualLinear(w_dim, w_dim, activation="lrelu", lr_multiplier=lr_multiplier)

    def forward(self, angle: Tensor) -> Tensor:
        """Map yaw angles to ``cam_p``.

        Args:
            angle: ``(N, 1)`` yaw in radians.

        Returns:
            ``(N, w_dim)``.
        """
        if angle.ndim != 2 or static_int(angle.shape[1]) != 1:
            raise ValueError(f"expected the angle of shape (N, 1), got {tuple(angle.shape)}")
        return self.fc1(self.fc0(embed_angle(angle.float(), self.frequencies)))


class FeatureInjection(nn.Module):
    """Condition appearance features on depth features of the same layer (DepthGAN's ``d_layer_gamma/beta``).

    Args:
        channels: ``C``, the channels of both paths at this layer.
        clamp: Optional activation clamp (the synthesis ``conv_clamp``).
        init_div: Divisor of the initial ``N(0, 1)`` weights.
    """

    def __init__(self, channels: int, clamp: float | None = None, init_div: float = INJECTION_INIT_DIV) -> None:
        super().__init__()
        self.channels = channels
        self.gamma = EqualConv2d(2 * channels, channels, 1, activation="lrelu", clamp=clamp)
        self.beta = EqualConv2d(channels, channels, 1, activation="linear", clamp=clamp)
        with torch.no_grad():
            self.gamma.weight.div_(init_div)
            self.beta.weight.div_(init_div)

    def forward(self, x: Tensor, depth_feature: Tensor) -> Tensor:
        """Replace the appearance features by their depth-conditioned version.

        Args:
            x: Appearance features ``(N, C, H, W)``.
            depth_feature: Depth features ``(N, C, H, W)`` of the same layer.

        Returns:
            ``(N, C, H, W)``.
        """
        if tuple(x.shape) != tuple(depth_feature.shape):
            raise ValueError(f"depth features {tuple(depth_feature.shape)} do not match {tuple(x.shape)}")
        return self.beta(self.gamma(torch.cat([x, depth_feature.to(x.dtype)], dim=1)))
