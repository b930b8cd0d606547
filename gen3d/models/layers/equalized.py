"""Equalized learning-rate layers of StyleGAN2 (arXiv 1912.04958; ProGAN, arXiv 1710.10196, Sec. 4.1).

Weights are stored as ``N(0, 1) / lr_multiplier`` and scaled at run time by ``lr_multiplier / sqrt(fan_in)``, so
Adam's per-parameter step acts on a unit-variance parameter (stylegan2-ada-pytorch ``training/networks.py``,
``FullyConnectedLayer`` and ``Conv2dLayer``). Activations follow ``torch_utils/ops/bias_act.py``: bias, activation,
multiplication by the activation's default gain (``sqrt(2)`` for leaky ReLU 0.2) times ``gain``, then an optional
clamp to ``+-clamp * gain``. Both layers carry an optional :class:`WidthMask` for DynamicD (arXiv 2209.09897).
"""

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .dynamic_width import WidthMask, masked_weight
from .fir import RESAMPLE_FILTER, conv2d_resample, setup_filter

LRELU_SLOPE = 0.2  # bias_act.activation_funcs['lrelu'].alpha
ACT_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}  # bias_act.activation_funcs[...].def_gain


def bias_act(x: Tensor, bias: Tensor | None, activation: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> Tensor:
    """Add a per-channel bias, apply the activation, scale by its default gain times ``gain``, clamp.

    Args:
        x: ``(N, C)`` or ``(N, C, H, W)``.
        bias: ``(C,)`` or ``None``.
        activation: ``"linear"`` or ``"lrelu"``.
        gain: Extra gain (e.g. ``sqrt(0.5)`` on the residual branches).
        clamp: Clamp the output to ``+-clamp * gain``; ``None`` disables it.

    Returns:
        Same shape as ``x``.
    """
    if activation not in ACT_GAIN:
        raise ValueError(f"unknown activation {activation!r}")
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2))).to(x.dtype)
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    act_gain = ACT_GAIN[activation] * gain
    if act_gain != 1:
        x = x * act_gain
    if clamp is not None:
        x = x.clamp(-clamp * gain, clamp * gain)
    return x


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate.

    Args:
        in_features: Input features.
        out_features: Output features.
        bias: Learn an additive bias.
        bias_init: Initial bias value (1 for the style affines of StyleGAN2).
        lr_multiplier: Learning-rate multiplier (0.01 in the mapping network).
        activation: ``"linear"`` or ``"lrelu"``.
        clamp: Optional output clamp (see :func:`bias_act`).
        width_mask: Optional DynamicD width state; inert while its ``ratio`` is ``None``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0, activation: str = "linear", clamp: float | None = None,
                 width_mask: WidthMask | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation, self.clamp = activation, clamp
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.width_mask = width_mask

    def effective_weight(self) -> Tensor:
        """The weight actually used: equalized, and width-masked when a DynamicD ratio is set.

        Returns:
            ``(out_features, in_features)``.
        """
        if self.width_mask is None or self.width_mask.is_full(self.in_features, self.out_features):
            return self.weight * self.weight_gain
        return masked_weight(self.weight, self.width_mask, self.lr_multiplier, self.training)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: ``(N, in_features)``.

        Returns:
            ``(N, out_features)``.
        """
        b = self.bias * self.bias_gain if self.bias is not None else None
        return bias_act(F.linear(x, self.effective_weight().to(x.dtype)), b, self.activation, clamp=self.clamp)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.in_features}, {self.out_features}, act={self.activation}, lr_mult={self.lr_multiplier}"


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate and optional 2x FIR down-sampling ("same" padding).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        bias: Learn an additive bias.
        activation: ``"linear"`` or ``"lrelu"``.
        down: 1, or 2 for blur ([1, 3, 3, 1]) then stride 2.
        resample_filter: 1-D FIR taps used when down-sampling.
        clamp: Optional output clamp (see :func:`bias_act`).
        width_mask: Optional DynamicD width state; inert while its ``ratio`` is ``None``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, resample_filter: tuple = RESAMPLE_FILTER,
                 clamp: float | None = None, width_mask: WidthMask | None = None) -> None:
        super().__init__()
        if down not in (1, 2):
            raise ValueError("down must be 1 or 2")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation, self.down, self.clamp = activation, down, clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.width_mask = width_mask

    def effective_weight(self) -> Tensor:
        """The weight actually used: equalized, and width-masked when a DynamicD ratio is set.

        Returns:
            ``(out_channels, in_channels, k, k)``.
        """
        if self.width_mask is None or self.width_mask.is_full(self.in_channels, self.out_channels):
            return self.weight * self.weight_gain
        return masked_weight(self.weight, self.width_mask, 1.0, self.training)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        """Apply the layer.

        Args:
            x: ``(N, in_channels, H, W)``.
            gain: Extra output gain (``sqrt(0.5)`` on the two branches of a residual block).

        Returns:
            ``(N, out_channels, H // down, W // down)``.
        """
        w = self.effective_weight().to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, down=self.down)
        return bias_act(x, self.bias, self.activation, gain=gain, clamp=self.clamp)

    def extra_repr(self) -> str:  # noqa: D102
        return (f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, down={self.down}, "
                f"act={self.activation}")
