"""BigGAN building blocks (Brock et al., arXiv 1809.11096; the authors' BigGAN-PyTorch ``layers.py``).

* Spectral normalisation (Miyato et al., arXiv 1802.05957) of every conv and linear weight, one power iteration
  per training forward, ``eps = 1e-6`` (BigGAN's ``SN_eps``), through torch's
  :func:`~torch.nn.utils.parametrizations.spectral_norm` (its ``_u`` / ``_v`` vectors are buffers: checkpointed,
  copied to the EMA generator; eval mode does no power iteration).
* Class-conditional batch norm (de Vries et al. 2017; BigGAN Sec. 3 / Appendix B): a parameter-free BN whose gain
  ``1 + W_g y`` and bias ``W_b y`` are (spectrally normalised, bias-free) linear maps of the block's condition ``y``
  (BigGAN: ``[shared class embedding, z chunk]``).
* Residual up-block of G (BN-ReLU-up-conv3x3-BN-ReLU-conv3x3 + upsampled 1x1 shortcut) and down-block of D
  (``[ReLU]``-conv3x3-ReLU-conv3x3-avgpool + 1x1 shortcut), BigGAN Fig. 15 / BigGAN-PyTorch ``GBlock`` ``DBlock``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

SN_EPS = 1e-6  # BigGAN-PyTorch SN_eps
BN_EPS = 1e-5


def sn(module: nn.Module, eps: float = SN_EPS) -> nn.Module:
    """``module`` with its weight orthogonally initialised (BigGAN ``G_init='ortho'``) and spectrally normalised."""
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return spectral_norm(module, eps=eps)


def sn_conv(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Module:
    """Spectrally normalised ``kernel x kernel`` conv, same padding."""
    return sn(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2))


def sn_linear(in_f: int, out_f: int, bias: bool = True) -> nn.Module:
    """Spectrally normalised linear layer."""
    return sn(nn.Linear(in_f, out_f, bias=bias))


class ConditionalBatchNorm2d(nn.Module):
    """BN without affine parameters, then ``x * (1 + W_g y) + W_b y`` per sample and channel.

    Args:
        num_features: Channels ``C``.
        cond_dim: Size of the condition ``y``; 0 gives a plain affine BN (gain 1 + learned, no condition).
    """

    def __init__(self, num_features: int, cond_dim: int) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.bn = nn.BatchNorm2d(num_features, eps=BN_EPS, affine=cond_dim == 0)
        if cond_dim > 0:
            self.gain = sn_linear(cond_dim, num_features, bias=False)
            self.bias = sn_linear(cond_dim, num_features, bias=False)

    def gain_bias(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample ``(gain, bias)``, ``[N, C]`` each, of condition ``y [N, cond_dim]``."""
        return 1 + self.gain(y), self.bias(y)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``x [N, C, H, W]`` normalised and modulated by ``y [N, cond_dim]`` -> ``[N, C, H, W]``."""
        out = self.bn(x)
        if self.cond_dim == 0:
            return out
        gain, bias = self.gain_bias(y)
        return out * gain[:, :, None, None] + bias[:, :, None, None]


class GBlock(nn.Module):
    """``x [N, C_in, H, W], y [N, cond_dim] -> [N, C_out, 2H, 2W]`` (nearest upsampling).

    ``hook(name, h) -> h``, when given, sees (and may replace) the block's two CCBN + ReLU activations, the
    channels InterClassGAN (arXiv 2203.11173, Sec. 3) reads: ``'act1'`` = ``ReLU(CCBN_1(x, y)) [N, C_in, H, W]``
    (before the upsampling) and ``'act2'`` = ``ReLU(CCBN_2(conv1(up(act1)), y)) [N, C_out, 2H, 2W]``.
    """

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm2d(in_ch, cond_dim), ConditionalBatchNorm2d(out_ch, cond_dim)
        self.conv1, self.conv2 = sn_conv(in_ch, out_ch), sn_conv(out_ch, out_ch)
        self.conv_sc = sn_conv(in_ch, out_ch, 1)

    def forward(self, x: Tensor, y: Tensor | None,  # noqa: D102
                hook: Callable[[str, Tensor], Tensor] | None = None) -> Tensor:
        h = F.relu(self.bn1(x, y))
        if hook is not None:
            h = hook("act1", h)
        h = F.relu(self.bn2(self.conv1(F.interpolate(h, scale_factor=2, mode="nearest")), y))
        if hook is not None:
            h = hook("act2", h)
        return self.conv2(h) + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """``x [N, C_in, H, W] -> [N, C_out, H/2, W/2]`` (or same size when ``downsample=False``).

    Args:
        in_ch: Input channels.
        out_ch: Output channels.
        downsample: 2x2 average pooling at the end.
        preactivation: ReLU before the first conv (every block but D's first, as BigGAN).
    """

    def __init__(self, in_ch: int, out_ch: int, downsample: bool = True, preactivation: bool = True) -> None:
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1, self.conv2 = sn_conv(in_ch, out_ch), sn_conv(out_ch, out_ch)
        self.learnable_sc = in_ch != out_ch or downsample
        if self.learnable_sc:
            self.conv_sc = sn_conv(in_ch, out_ch, 1)

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        sc = x
        if self.preactivation:  # BigGAN-PyTorch DBlock.shortcut: conv then pool after pre-activation, else pool first
            sc = self._pool(self.conv_sc(sc)) if self.learnable_sc else self._pool(sc)
        else:
            sc = self._pool(sc)
            sc = self.conv_sc(sc) if self.learnable_sc else sc
        return h + sc
