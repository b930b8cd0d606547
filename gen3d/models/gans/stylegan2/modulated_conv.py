"""Modulated convolution and ToRGB of StyleGAN2 (Karras et al. 2020, arXiv 1912.04958, Sec. 2.2, Eq. 1-3).

Each sample's style ``s = A(w)`` scales the input channels of the weight (modulation, Eq. 1); demodulation divides
every output channel by the L2 norm of its modulated weights (Eq. 3) so that unit-variance inputs give unit-variance
outputs. Two equivalent executions, as in stylegan2-ada-pytorch ``training/networks.py:modulated_conv2d``:

* ``fused=False``: scale the activations by ``s`` before and by the demodulation coefficients after one shared
  convolution (batch-size agnostic; used for training and for ONNX export);
* ``fused=True``: one grouped convolution with a per-sample weight (groups = batch size).

Per-pixel noise (Sec. 2.1 of arXiv 1812.04948) is added after the convolution with a learned scalar strength.
Optionally (PadInv, arXiv 2203.11105) the zero padding of a non-upsampling conv is replaced by a map's border ring
(:mod:`.padded_conv`); without a map the layer is unchanged.
"""

import math

import torch
from torch import Tensor, nn

from gen3d.models.layers.equalized import EqualLinear, bias_act
from gen3d.models.layers.fir import RESAMPLE_FILTER, conv2d_resample, setup_filter, static_int

from .padded_conv import padding_ring_conv2d

DEMOD_EPS = 1e-8  # modulated_conv2d: `(w.square().sum(dim=[2,3,4]) + 1e-8).rsqrt()`
NOISE_MODES = ("random", "const", "none")


def _demodulation(w: Tensor) -> Tensor:
    """Eq. 3's ``1 / sqrt(sum_{i,k} w'^2 + eps)`` of a modulated weight ``(N, C_out, C_in, k, k)``: ``(N, C_out)``."""
    return (w.square().sum(dim=[2, 3, 4]) + DEMOD_EPS).rsqrt()


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, up: int = 1,
                     resample_filter: Tensor | None = None, fused: bool = False) -> Tensor:
    """Style-modulated 2-D convolution with optional demodulation and 2x FIR up-sampling.

    Args:
        x: Input ``(N, C_in, H, W)``.
        weight: Raw weight ``(C_out, C_in, k, k)``.
        styles: Per-sample input-channel scales ``(N, C_in)``.
        demodulate: Normalise every output channel of the modulated weight to unit L2 norm.
        up: 1, or 2 for transposed convolution and FIR blur.
        resample_filter: 2-D filter ``(K, K)``, needed when ``up == 2``.
        fused: Grouped per-sample convolution instead of activation scaling.

    Returns:
        ``(N, C_out, H * up, W * up)``.
    """
    n = x.shape[0]
    c_out, c_in, kh, kw = (static_int(v) for v in weight.shape)
    dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, c_in, 1, 1)  # (N, C_out, C_in, k, k)
    if demodulate:
        dcoefs = _demodulation(w)  # (N, C_out)
    if not fused:
        x = x * styles.reshape(n, c_in, 1, 1).to(x.dtype)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up)
        if dcoefs is not None:
            x = x * dcoefs.reshape(n, c_out, 1, 1).to(x.dtype)
        return x
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, c_out, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    # The grouped path bakes the batch size into the graph (groups = N); exports use fused=False.
    x = conv2d_resample(x, w.reshape(-1, c_in, kh, kw).to(x.dtype), resample_filter, up=up, groups=static_int(n))
    return x.reshape(n, c_out, *x.shape[2:])


def demodulation_coefficients(weight: Tensor, styles: Tensor) -> Tensor:
    """Demodulation coefficients of Eq. 3, as :func:`modulated_conv2d` computes them (for the PadInv ring term).

    Args:
        weight: Raw weight ``(C_out, C_in, k, k)``.
        styles: ``(N, C_in)``.

    Returns:
        ``(N, C_out)``: ``1 / sqrt(sum_{i,k} (s_i W_oik)^2 + eps)``.
    """
    return _demodulation(weight.unsqueeze(0) * styles.reshape(styles.shape[0], 1, -1, 1, 1))


class ModulatedConv2d(nn.Module):
    """Synthesis layer: affine style, modulated (de-modulated) conv, noise, bias and activation.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        w_dim: Dimension of the intermediate latent ``w``.
        resolution: Output resolution (size of the constant noise map).
        kernel_size: Square kernel size.
        up: 1, or 2 for 2x FIR up-sampling.
        demodulate: Apply weight demodulation.
        use_noise: Add per-pixel noise with a learned strength (initialised to 0).
        activation: ``"lrelu"`` or ``"linear"``.
        resample_filter: 1-D FIR taps for up-sampling.
        clamp: Optional output clamp.
        fused: Use the grouped per-sample convolution (see :func:`modulated_conv2d`).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, demodulate: bool = True, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: tuple = RESAMPLE_FILTER, clamp: float | None = None, fused: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.up, self.demodulate, self.use_noise = up, demodulate, use_noise
        self.activation, self.clamp, self.fused = activation, clamp, fused
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random", gain: float = 1.0,
                padding_map: Tensor | None = None) -> Tensor:
        """Apply the layer.

        Args:
            x: ``(N, in_channels, R // up, R // up)``.
            w: Latent ``(N, w_dim)``.
            noise_mode: ``"random"`` (fresh noise), ``"const"`` (the stored ``noise_const`` buffer) or ``"none"``.
            gain: Extra output gain.
            padding_map: Optional PadInv padding ``(N, in_channels, R + 2p, R + 2p)``, ``p = kernel_size // 2``
                (non-upsampling convs only): its border ring replaces the zero padding of the style-modulated
                activations (see :mod:`.padded_conv`); None: zero padding, the plain layer.

        Returns:
            ``(N, out_channels, R, R)``.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, demodulate=self.demodulate, up=self.up,
                             resample_filter=self.resample_filter, fused=self.fused)
        if padding_map is not None:  # PadInv (arXiv 2203.11105 Sec. 3.2): y = modconv(x) + d * conv(ring, W)
            p = self.weight.shape[-1] // 2
            want = (x.shape[0], self.in_channels, x.shape[2] + 2 * p, x.shape[3] + 2 * p)  # up == 1: R_in = R
            if self.up != 1:
                raise ValueError(f"padding maps replace the padding of non-upsampling convs only; this conv "
                                 f"({self.extra_repr()}) up-samples")
            if tuple(padding_map.shape) != want:
                raise ValueError(f"padding_map must be {want} for this conv ({self.extra_repr()}), "
                                 f"got {tuple(padding_map.shape)}")
            dcoefs = demodulation_coefficients(self.weight, styles) if self.demodulate else None
            x = x + padding_ring_conv2d(padding_map.to(x.dtype), self.weight, dcoefs)
        if self.use_noise and noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return bias_act(x, self.bias, self.activation, gain=gain, clamp=self.clamp)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.in_channels}, {self.out_channels}, res={self.resolution}, up={self.up}"


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation (StyleGAN2 skip generator).

    Args:
        in_channels: Input channels.
        out_channels: Image channels.
        w_dim: Dimension of ``w``.
        kernel_size: Kernel size (1).
        clamp: Optional output clamp.
        fused: Use the grouped per-sample convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 clamp: float | None = None, fused: bool = False) -> None:
        super().__init__()
        self.clamp, self.fused = clamp, fused
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: ``(N, in_channels, R, R)``.
            w: Latent ``(N, w_dim)``.

        Returns:
            ``(N, out_channels, R, R)``.
        """
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=self.fused)
        return bias_act(x, self.bias, "linear", clamp=self.clamp)
